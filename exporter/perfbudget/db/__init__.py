"""Where perfbudget keeps what every process (and, with PostgreSQL, every replica) shares: one small layer
over SQLite and PostgreSQL, so a store is written once and runs on either.

`base` says what a store may rely on (a connection's `execute` with `?` placeholders, rows read by column
name, a transaction that serialises the writers that need it, the schema prepared under a lock); `sqlite` is
the embedded default, one host; `postgres` is the shared one.
"""

from __future__ import annotations

import sqlite3

from .base import Connection, Cursor, Database, DatabaseOperationalError, DatabaseUnreachable
from .postgres import PostgresDatabase
from .sqlite import SqliteDatabase

#: What an answer turns into a 503 (retry later), whichever the database: locked or busy beyond the
#: timeout, a full disk, a connection lost or refused, a fail-over in progress. psycopg's OperationalError
#: reaches callers as DatabaseOperationalError (db.postgres translates it), so that psycopg (25 MiB in every
#: process) is imported only where a PostgreSQL URL is configured.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (sqlite3.OperationalError, DatabaseOperationalError,
                                                 DatabaseUnreachable)

__all__ = ["TRANSIENT_ERRORS", "Connection", "Cursor", "Database", "DatabaseOperationalError",
           "DatabaseUnreachable", "PostgresDatabase", "SqliteDatabase"]
