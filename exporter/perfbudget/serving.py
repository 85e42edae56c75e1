"""The production servers: granian (the default, fastest in our measurements) and gunicorn."""

from __future__ import annotations

from typing import Any

from .config import Config

APP = "perfbudget.wsgi:application"


def run_granian(config: Config) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    server = Granian(
        APP,
        address=config.server.host,
        port=config.server.port,
        interface=Interfaces.WSGI,
        workers=config.server.workers,
        # granian hands the body to WSGI as a stream: a client that trickles its body holds a thread until
        # it is done. Several threads per worker keep slow clients from starving the rest
        # (tests/integration/test_slow_clients.py); measured throughput is the same as with one.
        blocking_threads=config.server.threads,
        backlog=2048,
        log_access=False,
        respawn_failed_workers=True,
        workers_kill_timeout=30,
    )
    server.serve()


def run_gunicorn(config: Config, worker_class: str = "sync") -> None:
    from gunicorn.app.base import BaseApplication
    from prometheus_client import multiprocess

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings: dict[str, Any] = {
                "bind": config.server.listen_address,
                "workers": config.server.workers,
                "worker_class": worker_class,
                "threads": config.server.threads if worker_class == "gthread" else 1,
                "graceful_timeout": 30,
                "preload_app": False,  # each worker builds its app (and threads) after the fork
                "child_exit": lambda _server, worker: multiprocess.mark_process_dead(worker.pid),  # type: ignore[no-untyped-call]
                "accesslog": None,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from .wsgi import application

            return application

    _Gunicorn().run()
