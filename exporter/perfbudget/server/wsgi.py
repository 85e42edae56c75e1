"""The WSGI application the production server's workers load (`perfbudget.server.wsgi:application`).

Each worker builds its own app from the configuration file `perfbudget serve` named in PERFBUDGET_CONFIG,
after the fork, so its threads (snapshots, attribution, OTLP reader) are its own. Importing this module
builds the app: only the servers' workers import it.
"""

from __future__ import annotations

import atexit
import os
from multiprocessing import util

from prometheus_client import multiprocess

from ..app import close_app, create_app
from ..config.env import CONFIG_ENV, MULTIPROC_ENV
from ..metrics import bind_multiprocess_values

bind_multiprocess_values()
application = create_app(config_file=os.environ.get(CONFIG_ENV) or None)


def _close() -> None:
    close_app(application)
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # drop live gauges


# granian's workers are multiprocessing children (atexit does not run there: Finalize does);
# gunicorn's exit through sys.exit, where atexit does. `close` runs once either way.
util.Finalize(None, _close, exitpriority=100)
atexit.register(_close)
