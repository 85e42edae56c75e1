"""Who holds a running run when replicas share the store: a lease, not a process id.

With SQLite every process is on one host, and a run left `running` by a dead process is found by its
owner's pid (owners.py). Across machines a pid says nothing, so each runner (a worker process's pool) holds
a lease in the database: claiming a run renews it in the same transaction, a heartbeat renews it every
third of `database.lease_seconds` while the runner lives, and closing releases it. A running run whose
owner's lease has lapsed, or who holds none, was cut off (the replica crashed, hangs or lost the database):
whichever replica polls next marks it interrupted. Expiry is measured on the database's clock, so replicas'
clocks may disagree.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from ..db import Connection

# The database's clock, as the Unix time every other column holds (the transaction's start: one instant
# for all of it).
_NOW = "EXTRACT(EPOCH FROM now())::float8"


@dataclass(frozen=True)
class Lapsed:
    """A running run whose owner no longer holds a lease."""

    run_id: str
    owner: str | None
    host: str | None
    # Seconds since the lease expired (None: the owner holds no lease at all).
    ago: float | None

    def message(self, lease_seconds: float) -> str:
        holder = f"{self.owner} on {self.host}" if self.host else (self.owner or "no one")
        why = (f"its lease lapsed {self.ago:.0f}s ago" if self.ago is not None else "it holds no lease")
        return (f"interrupted: the replica running it ({holder}) stopped renewing its claim ({why}; "
                f"database.lease_seconds is {lease_seconds:g}); it was not re-run (check what its actions did, "
                "then run it again)")


def renew_lease(db: Connection, owner: str, seconds: float) -> None:
    """Hold (or take again) `owner`'s lease for `seconds` from now, on the database's clock."""
    db.execute(
        f"INSERT INTO leases (owner, host, pid, renewed_at, expires_at) VALUES (?, ?, ?, {_NOW}, {_NOW} + ?) "
        "ON CONFLICT (owner) DO UPDATE SET renewed_at = excluded.renewed_at, expires_at = excluded.expires_at",
        (owner, socket.gethostname(), os.getpid(), seconds),
    )


def release_lease(db: Connection, owner: str) -> None:
    db.execute("DELETE FROM leases WHERE owner = ?", (owner,))


def lapsed(db: Connection) -> list[Lapsed]:
    """Running runs whose owner's lease has expired or is gone; expired leases that hold nothing more are
    forgotten."""
    rows = db.execute(
        f"SELECT r.id, r.owner, l.host, {_NOW} - l.expires_at AS ago FROM runs r "
        f"LEFT JOIN leases l ON l.owner = r.owner WHERE r.state = 'running' AND "
        f"(l.owner IS NULL OR l.expires_at < {_NOW}) ORDER BY r.id"
    ).fetchall()
    db.execute(f"DELETE FROM leases WHERE expires_at < {_NOW} AND owner NOT IN "
               "(SELECT owner FROM runs WHERE state = 'running' AND owner IS NOT NULL)")
    return [Lapsed(row["id"], row["owner"], row["host"], row["ago"]) for row in rows]
