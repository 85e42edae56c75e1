"""The embedded default: one SQLite file in WAL mode, shared by the processes of one host.

Every operation opens its own connection (cheap for a local file) with synchronous=FULL; every transaction
is BEGIN IMMEDIATE, which takes the one write lock up front, so any check-then-write in it is atomic across
processes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..sqlite import prepare
from .base import Connection, Database


class SqliteDatabase(Database):
    kind = "sqlite"
    sequence = "rowid"
    shared = False

    def __init__(self, path: Path, busy_timeout: float = 5.0) -> None:
        self.path = path
        self._timeout = busy_timeout

    @property
    def location(self) -> str:
        return str(self.path)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
        try:
            db.row_factory = sqlite3.Row
            # WAL's default NORMAL can lose the last commits on power loss; a run acknowledged to
            # Alertmanager must survive that, so every commit is fsynced.
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    @contextmanager
    def transaction(self, *, serial: bool = True) -> Iterator[sqlite3.Connection]:
        # SQLite has one writer at a time anyway: every transaction is serial.
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def prepare(self, schema: Sequence[str], migrate: Callable[[Connection], None]) -> None:
        prepare(self.path, schema, timeout=self._timeout)
        with self.transaction() as db:
            migrate(db)

    def close(self) -> None:
        pass  # every connection is closed after its operation

    def columns(self, db: Connection, table: str) -> set[str]:
        return {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
