"""The WSGI application the production server's workers load (`perfbudget.server.wsgi:application`).

Each worker builds its own app after the fork, so its threads (snapshots, attribution, OTLP reader) are its
own, from the run's configuration snapshot (the configuration in force, whatever the files on disk say
now); reloads still validate the file `perfbudget serve` named in PERFBUDGET_CONFIG. Importing this module
builds the app: only the servers' workers import it.
"""

from __future__ import annotations

import atexit
import os
from multiprocessing import util
from pathlib import Path

from prometheus_client import multiprocess

from ..app import close_app, create_app
from ..config.env import CONFIG_ENV, MULTIPROC_ENV, RUN_DIR_ENV
from ..metrics import bind_multiprocess_values
from .snapshot import read_snapshot

bind_multiprocess_values()
_run_dir = os.environ.get(RUN_DIR_ENV)
#: The configuration this worker runs with.
config = read_snapshot(Path(_run_dir)) if _run_dir else None
application = create_app(config, config_file=os.environ.get(CONFIG_ENV) or None)


def _close() -> None:
    close_app(application)
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # drop live gauges


# granian's workers are multiprocessing children (atexit does not run there: Finalize does);
# gunicorn's exit through sys.exit, where atexit does. `close` runs once either way.
util.Finalize(None, _close, exitpriority=100)
atexit.register(_close)
