"""granian, the default production server (the fastest in benchmarks/ingest.py)."""

from __future__ import annotations

from granian import Granian
from granian.constants import Interfaces

from ..config import Config
from . import WSGI_APP


def run_granian(config: Config) -> None:
    server = Granian(
        WSGI_APP,
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
