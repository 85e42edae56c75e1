"""The shared store: `database.url` (PERFBUDGET_DATABASE_URL) puts the playbook runs' audit log, work queue and
run journal in PostgreSQL, shared by every replica; unset, they stay in SQLite under `data_dir` (one host).

The URL holds a password: it is never shown whole. Config errors on this section hide the value
(config/errors.py's SECRET_KEYS), and every message about the database names `redacted(url)`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator

from .base import StrictModel

SCHEMES = ("postgresql", "postgres")


def redacted(url: str) -> str:
    """`url` with its password (and any query, which may carry one: ?password=) replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{hostport}"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class DatabaseConfig(StrictModel):
    # postgresql://user:password@host:5432/dbname (libpq's URL form, ?sslmode=... and the like allowed);
    # none: the embedded SQLite store under data_dir, for one host.
    url: str | None = None
    # How long a replica's claim on its running runs lasts without a renewal: a replica renews it every
    # third of this; once it has lapsed (the replica crashed, hangs or lost the database) any replica marks
    # the runs it held interrupted. Longer than any pause a live replica may have (a stop-the-world GC, a
    # database fail-over).
    lease_seconds: Annotated[float, Field(ge=3, le=3600)] = 30.0
    # Connecting (each new connection, and the reachability check at start).
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 5.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in SCHEMES:
            raise ValueError("must be a PostgreSQL URL like postgresql://user:password@host:5432/perfbudget")
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("names no host: postgresql://user:password@HOST:5432/perfbudget")
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when asked
        except ValueError:
            raise ValueError("has a port that is not a number from 0 to 65535") from None
        return value.strip()
