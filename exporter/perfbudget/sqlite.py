"""SQLite files shared by every worker process: created once, in WAL mode, safe to open concurrently."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

_SWITCH_ATTEMPTS = 100
_SWITCH_PAUSE = 0.05


def prepare(path: Path, schema: Iterable[str], timeout: float = 10.0) -> None:
    """Create `path` with `schema` (CREATE ... IF NOT EXISTS statements) in WAL mode.

    Workers start at the same moment and each prepares the same file. Switching to WAL needs an exclusive
    lock and SQLite answers "database is locked" at once instead of waiting in the busy handler, so the
    switch is retried; WAL is then a property of the file, and the schema goes in under one write lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        for attempt in range(_SWITCH_ATTEMPTS):
            try:
                mode = db.execute("PRAGMA journal_mode").fetchone()[0]
                if mode != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == _SWITCH_ATTEMPTS - 1:
                    raise
                time.sleep(_SWITCH_PAUSE)
        db.execute("BEGIN IMMEDIATE")
        for statement in schema:
            db.execute(statement)
        db.execute("COMMIT")
    finally:
        db.close()
