"""granian, the default production server (the fastest in benchmarks/ingest.py), on its RSGI interface.

Its WSGI interface hands the application a blocking body stream with no deadline: a client trickling its
body held a thread, and a dozen of them froze a worker. Through RSGI the event loop reads bodies (server/
front.py) and only complete requests take a thread.
"""

from __future__ import annotations

import gc

from granian import Granian
from granian.constants import Interfaces, Loops
from granian.http import HTTP1Settings

from ..config import Config
from . import RSGI_APP


def run_granian(config: Config) -> None:
    server = Granian(
        RSGI_APP,
        address=config.server.host,
        port=config.server.port,
        interface=Interfaces.RSGI,
        # The front runs every beacon on the event loop: uvloop's costs 7 us a request less than asyncio's
        # (a trivial RSGI app, benchmarks/ingest.py's RSGI floor). Installed with granian[uvloop].
        loop=Loops.uvloop,
        workers=config.server.workers,
        # Headers not complete within the deadline, or a keep-alive connection idle for as long: closed.
        # The body's own deadline is the front's.
        http1_settings=HTTP1Settings(header_read_timeout=round(config.server.body_timeout * 1000)),
        websockets=False,
        backlog=2048,
        log_access=False,
        respawn_failed_workers=True,
        workers_kill_timeout=30,
    )
    # The workers are forked in serve(): what this process has built so far (modules, the validated config)
    # is theirs too, shared until written. A full collection in a worker writes into every object it
    # tracks, so it copied those pages one by one; frozen, the collector leaves them alone. Measured with
    # two workers after 2000 requests: 11 MiB less anonymous PSS in all (86 against 97 MiB; idle, 0.5 MiB),
    # the same RSS (each process's /proc/<pid>/smaps_rollup, perfbudget serve --workers 2, default config).
    gc.collect()
    gc.freeze()
    server.serve()
