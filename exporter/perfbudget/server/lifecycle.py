"""One server run, from the command line's point of view: validate everything, prepare the shared
directories, then hand over to a production server.

Everything here runs once per start, in the parent process, before any worker exists.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from ..attribution import compact
from ..config import Config
from ..config.env import MULTIPROC_ENV
from ..playbooks.store import recover_interrupted


def address_in_use(host: str, port: int) -> str | None:
    """Why the address cannot be taken, or None. granian binds with SO_REUSEPORT, so without this check a
    second server on a busy port would start silently and take half of the first one's beacons."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine, a listener is not
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"{exc.strerror} (is another perfbudget or another server listening there?)"
    return None


def prepare_data_dir(config: Config) -> None:
    """Work that must happen once per start, before any worker: compaction and crash recovery."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    compact(config.data_dir / "attribution", config.beacons.attribution_top_k)
    recover_interrupted(config)


def fresh_multiprocess_dir() -> tuple[str, bool]:
    """client_python's multiprocess directory, emptied of our files at start (stale ones would double count),
    and whether we made it (and so remove it at exit)."""
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        shared = Path(configured)
        shared.mkdir(parents=True, exist_ok=True)
        # Only what client_python and perfbudget write there: the directory may be shared with other files.
        for stale in [*shared.glob("*.db"), *shared.glob("store-*.slab"), *shared.glob("clients-*.bin"),
                      shared / "dedup.bin", shared / "routes.bin"]:
            stale.unlink(missing_ok=True)
        return configured, False
    made = tempfile.mkdtemp(prefix="perfbudget-metrics-")
    os.environ[MULTIPROC_ENV] = made
    return made, True
