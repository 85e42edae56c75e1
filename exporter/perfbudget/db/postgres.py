"""The shared store: one PostgreSQL database for every replica (psycopg 3).

Connections are pooled per process (a fresh one costs a TCP handshake and authentication, more than most
operations here) and never crossed over a fork: a child drops, without closing, what its parent had open.
Everything lives in its own schema, `perfbudget`, so the database may be shared with other applications.

Locks are PostgreSQL advisory locks in perfbudget's own class: `transaction(serial=True)` takes a
transaction-level one, so the check-then-writes that SQLite's single writer makes atomic (the queue's size,
a playbook's concurrency limit, the cooldown) are atomic across replicas too; `prepare` holds a session
lock while it creates and migrates the schema (and the writers' lock, so no serial writer runs meanwhile).

psycopg is imported by the first PostgresDatabase to connect, not with this module: it costs every process
25 MiB, and the default store is SQLite. Its OperationalError reaches callers as DatabaseOperationalError
(one of db.TRANSIENT_ERRORS), the others as they are.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..config.database import redacted
from .base import Connection, Cursor, Database, DatabaseOperationalError, DatabaseUnreachable

if TYPE_CHECKING:
    import psycopg

SCHEMA = "perfbudget"
# pg_advisory_lock(class, object): the class is perfbudget's ("pb" in ASCII), the objects its locks.
LOCK_CLASS = 0x7062
WRITES_LOCK = 1
SCHEMA_LOCK = 2
_IDLE_KEPT = 8


@functools.lru_cache(maxsize=512)
def placeholders(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal % doubled). perfbudget's SQL has no ? in its literals."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """A psycopg connection that takes the SQL every store writes (`?` placeholders)."""

    def __init__(self, raw: psycopg.Connection[dict[str, Any]]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return self.raw.execute(placeholders(sql), parameters or None)


class PostgresDatabase(Database):
    kind = "postgresql"
    sequence = "seq"
    shared = True

    def __init__(self, url: str, connect_timeout: float = 5.0) -> None:
        self.url = url
        self._timeout = max(1, math.ceil(connect_timeout))  # libpq takes whole seconds
        self._idle: list[psycopg.Connection[dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @property
    def location(self) -> str:
        return redacted(self.url)

    def _open(self) -> psycopg.Connection[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        try:
            raw = psycopg.connect(self.url, connect_timeout=self._timeout, autocommit=True, row_factory=dict_row,
                                  application_name="perfbudget")
        except psycopg.Error as exc:
            raise DatabaseUnreachable(f"cannot reach the database {self.location}: {_reason(exc)}") from None
        try:
            raw.execute(f"SET search_path TO {SCHEMA}")
        except psycopg.OperationalError as exc:
            raw.close()
            raise DatabaseOperationalError(str(exc)) from exc
        return raw

    def _take(self) -> psycopg.Connection[dict[str, Any]]:
        from psycopg import pq

        with self._lock:
            if os.getpid() != self._pid:  # forked: the parent's sockets are not ours to use, nor to close
                self._idle, self._pid = [], os.getpid()
            while self._idle:
                raw = self._idle.pop()
                if not raw.closed and raw.info.transaction_status == pq.TransactionStatus.IDLE:
                    return raw
                raw.close()
        return self._open()

    def _give_back(self, raw: psycopg.Connection[dict[str, Any]]) -> None:
        from psycopg import pq

        healthy = not raw.closed and raw.info.transaction_status == pq.TransactionStatus.IDLE
        with self._lock:
            if healthy and os.getpid() == self._pid and len(self._idle) < _IDLE_KEPT:
                self._idle.append(raw)
                return
        raw.close()

    @contextmanager
    def connect(self) -> Iterator[PgConnection]:
        import psycopg

        raw = self._take()
        try:
            yield PgConnection(raw)
        except psycopg.OperationalError as exc:  # in a statement, or in the commit of transaction()
            raw.close()  # a broken connection never goes back to the pool
            raise DatabaseOperationalError(str(exc)) from exc
        finally:
            if not raw.closed:
                self._give_back(raw)

    @contextmanager
    def transaction(self, *, serial: bool = True) -> Iterator[PgConnection]:
        with self.connect() as db, db.raw.transaction():
            if serial:
                db.execute("SELECT pg_advisory_xact_lock(?, ?)", (LOCK_CLASS, WRITES_LOCK))
            yield db

    def prepare(self, schema: Sequence[str], migrate: Callable[[Connection], None]) -> None:
        import psycopg

        try:
            with self.connect() as db:
                db.execute("SELECT pg_advisory_lock(?, ?)", (LOCK_CLASS, SCHEMA_LOCK))
                try:
                    with db.raw.transaction():
                        # No serial writer meanwhile: CREATE INDEX IF NOT EXISTS locks its table even when the
                        # index exists, and a writer taking two tables in the other order would deadlock it.
                        db.execute("SELECT pg_advisory_xact_lock(?, ?)", (LOCK_CLASS, WRITES_LOCK))
                        db.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                        for statement in schema:
                            db.execute(statement)
                        migrate(db)
                finally:
                    db.execute("SELECT pg_advisory_unlock(?, ?)", (LOCK_CLASS, SCHEMA_LOCK))
        except (psycopg.Error, DatabaseOperationalError) as exc:
            # No privilege to create the schema, a read-only standby, the connection lost meanwhile, ...
            raise DatabaseUnreachable(f"the database {self.location}: preparing the schema {SCHEMA}: "
                                      f"{_reason(exc)}") from None

    def columns(self, db: Connection, table: str) -> set[str]:
        rows = db.execute("SELECT column_name AS name FROM information_schema.columns "
                          "WHERE table_schema = ? AND table_name = ?", (SCHEMA, table))
        return {row["name"] for row in rows}

    def close(self) -> None:
        with self._lock:
            idle, self._idle = (self._idle, []) if os.getpid() == self._pid else ([], [])
        for raw in idle:
            raw.close()


def _reason(exc: Exception) -> str:
    """libpq's own words, on one line (it never repeats the password)."""
    text = " ".join(str(exc).split())
    return text.removeprefix("connection failed: ") or type(exc).__name__


def check_reachable(url: str, connect_timeout: float) -> str | None:
    """Why the database at `url` cannot be used, or None: connects once and asks for the server's version."""
    import psycopg

    database = PostgresDatabase(url, connect_timeout)
    try:
        with database.connect() as db:
            db.execute("SELECT 1")
    except DatabaseUnreachable as exc:
        return str(exc)
    except (psycopg.Error, DatabaseOperationalError) as exc:
        return f"the database {database.location}: {_reason(exc)}"
    finally:
        database.close()
    return None
