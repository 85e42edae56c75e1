"""gunicorn, the alternative production server (sync or gthread workers)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.util import import_app
from prometheus_client import multiprocess

from ..config import Config
from . import WSGI_APP


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, config: Config, worker_class: str) -> None:
        self._config = config
        self._worker_class = worker_class
        super().__init__()

    def load_config(self) -> None:
        config, worker_class = self._config, self._worker_class
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
        # The WSGI module builds the app when it is imported: that must happen in the worker, after the fork.
        return import_app(WSGI_APP)


def run_gunicorn(config: Config, worker_class: str = "sync") -> None:
    _Gunicorn(config, worker_class).run()
