"""What the audit log takes in and gives back: a delivery's resolved alerts, what recording gave, the
idempotency key, and the queue's limits (the errors a sender should retry on)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config.model import Config
from .records import Run


class QueueFull(Exception):
    """More runs are queued than `playbooks.queue_size`: a transient fault (the sender should retry)."""


class ManualShareFull(QueueFull):
    """Runs started by hand already fill their share of the queue (see `manual_share`)."""


def manual_share(queue_size: int) -> int:
    """How many queued runs started by hand the queue takes: half of it, at least one.

    Dry runs need no token, so without this anyone could fill the queue with them and the Alertmanager
    webhook, which shares it, would answer 503 until they drain. Capping runs started by hand at half
    leaves the webhook the other half (with `queue_size` 1 the one slot is shared: there is no half).
    """
    return max(1, queue_size // 2)


def audit_path(config: Config) -> Path:
    return config.playbooks.audit_file or config.data_dir / "playbook-runs.sqlite"


@dataclass(frozen=True)
class Resolution:
    fingerprint: str
    starts_at: str
    ends_at: str | None


@dataclass(frozen=True)
class Submitted:
    """What recording a `NewRun` gave: the run, and whether it already existed (a repeated delivery)."""

    run: Run
    duplicate: bool


@dataclass(frozen=True)
class Recorded:
    """What recording one webhook delivery gave."""

    submitted: list[Submitted]
    # Firing alerts not started because the same alert (fingerprint, startsAt) was already resolved.
    already_resolved: int
    # Runs marked resolved by resolved alerts in the delivery.
    resolved_runs: int
    # Those runs, as they are now (with endsAt and when it was received).
    resolved: list[Run] = field(default_factory=list)


def idempotency_key(playbook: str, fingerprint: str, starts_at: str) -> str:
    return f"{playbook}\x1f{fingerprint}\x1f{starts_at}"
