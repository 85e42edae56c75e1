"""What a store may rely on from its database, whichever it is.

SQL is written once, in the dialect both engines speak: `?` placeholders, `INSERT ... ON CONFLICT DO
NOTHING`, `UPDATE ... RETURNING`, rows read by column name (never by position). What differs (how a
transaction takes its lock, how the schema is found and prepared, the events' insertion order) is a
`Database`'s job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class DatabaseUnreachable(Exception):
    """The database cannot be reached (or refuses us): the message names it, without its password."""


class DatabaseOperationalError(Exception):
    """The driver's OperationalError (PostgreSQL: the connection lost, the server shutting down, a fail-over in
    progress), under a name that needs no driver imported: its message is the driver's, which is its cause."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...


class Database(ABC):
    """One database: short operations on pooled (PostgreSQL) or fresh (SQLite) connections, thread-safe."""

    #: "sqlite" or "postgresql".
    kind: str
    #: The events table's insertion order column (SQLite's implicit rowid; PostgreSQL has none).
    sequence: str
    #: Whether other hosts share it: runs are then held under a lease, not by a process id.
    shared: bool

    @property
    @abstractmethod
    def location(self) -> str:
        """Where it is, as messages show it: a file, or the URL without its password."""

    @abstractmethod
    def connect(self) -> AbstractContextManager[Connection]:
        """A connection for reads (each statement sees what was committed before it)."""

    @abstractmethod
    def transaction(self, *, serial: bool = True) -> AbstractContextManager[Connection]:
        """A transaction, committed when the block ends, rolled back when it raises. `serial`: one at a time
        across every process and replica (what a check-then-write such as the queue's limits needs)."""

    @abstractmethod
    def prepare(self, schema: Sequence[str], migrate: Callable[[Connection], None]) -> None:
        """Create the schema (CREATE ... IF NOT EXISTS) and run `migrate`, under a lock: many processes and
        replicas start at once, and one of them does it while the others wait."""

    @abstractmethod
    def columns(self, db: Connection, table: str) -> set[str]:
        """The column names `table` has now."""

    @abstractmethod
    def close(self) -> None:
        """Close pooled connections (nothing to do for SQLite)."""
