"""Where perfbudget keeps what every process (and, with PostgreSQL, every replica) shares: one small layer
over SQLite and PostgreSQL, so a store is written once and runs on either.

`base` says what a store may rely on (a connection's `execute` with `?` placeholders, rows read by column
name, a transaction that serialises the writers that need it, the schema prepared under a lock); `sqlite` is
the embedded default, one host; `postgres` is the shared one.
"""

from __future__ import annotations

from .base import Connection, Cursor, Database, DatabaseUnreachable
from .postgres import PostgresDatabase
from .sqlite import SqliteDatabase

__all__ = ["Connection", "Cursor", "Database", "DatabaseUnreachable", "PostgresDatabase", "SqliteDatabase"]
