"""What the audit log holds: a run's states and modes, its typed result, and the mapping to database rows
(the tables themselves: `schema`).

The result is stored as JSON. `RunResult.from_json` reads every row an earlier version wrote (missing keys
take their defaults), and `to_json` writes the same keys in the same order, so an existing install's audit
log keeps loading and the API shows old and new runs alike.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

import orjson

from ..config.model import Config
from ..config.playbooks import Risk

RunState = Literal["queued", "running", "succeeded", "failed", "interrupted", "skipped", "rolled-back"]
QUEUED: RunState = "queued"
RUNNING: RunState = "running"
SUCCEEDED: RunState = "succeeded"
FAILED: RunState = "failed"
INTERRUPTED: RunState = "interrupted"
SKIPPED: RunState = "skipped"
ROLLED_BACK: RunState = "rolled-back"
TERMINAL: tuple[RunState, ...] = (SUCCEEDED, FAILED, INTERRUPTED, SKIPPED, ROLLED_BACK)
STATES: tuple[RunState, ...] = (QUEUED, RUNNING, *TERMINAL)

Mode = Literal["dry-run", "execute"]
DRY_RUN: Mode = "dry-run"
EXECUTE: Mode = "execute"

# "skipped": the action could not apply to this setup (it works on the site's files and there is no site
# root); it is not a failure, and the run's state does not count it as one.
ActionStatus = Literal["pending", "previewed", "applied", "failed", "skipped", "rolled-back"]
Verdict = Literal["improved", "regressed", "unchanged", "waiting for data", "verification unavailable"]


def iso(ts: float | None) -> str | None:
    """A timestamp as the API and the audit log show it: RFC 3339, UTC, whole seconds."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str) -> float | None:
    """An RFC 3339 time as Alertmanager writes it (nanoseconds and all) as a Unix time; None if it is not one,
    or is Alertmanager's zero time (0001-01-01)."""
    head, _, rest = text.strip().replace("z", "Z").partition(".")
    zone = ""
    if rest:
        digits = rest.rstrip("Z").split("+")[0].split("-")[0]
        zone = rest[len(digits):]
        head = f"{head}.{digits[:6]}"
    try:
        value = datetime.fromisoformat(head + (zone or "").replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return value if value > 0 else None


def new_run_id() -> str:
    """Sortable by creation time (milliseconds, hex) and unguessable (random suffix)."""
    return f"{int(time.time() * 1000):011x}-{secrets.token_hex(5)}"


def run_dir(config: Config, run_id: str) -> Path:
    """Where a run's actions keep their journal, manifests and backups."""
    return config.data_dir / "runs" / run_id


def to_json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


# A p75 as a verifier measured it. A TypedDict, not a dataclass: the two data sources report different
# keys (only the exporter counts samples, only Prometheus has a query), and it is stored as they gave it.
Measurement = TypedDict("Measurement", {
    "p75": float | None, "unit": str, "samples": int, "from": str | None, "to": str | None, "source": str,
    "query": str, "error": str,
}, total=False)


class RunOptions(TypedDict, total=False):
    """How a run started by hand was asked for (alert runs have none)."""

    autoApprove: bool
    route: str | None


@dataclass
class Verification:
    """The vital before an execute (stored when it starts) and, once compared, after it."""

    available: bool
    reason: str | None = None
    metric: str | None = None
    route: str | None = None
    before: Measurement | None = None
    after: Measurement | None = None
    change: float | None = None
    verdict: Verdict | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verification:
        return cls(available=bool(data.get("available")), reason=data.get("reason"), metric=data.get("metric"),
                   route=data.get("route"), before=data.get("before"), after=data.get("after"),
                   change=data.get("change"), verdict=data.get("verdict"))

    def to_json(self) -> dict[str, Any]:
        if not self.available:
            return {"available": False, "reason": self.reason}
        out: dict[str, Any] = {"available": True, "metric": self.metric, "route": self.route, "before": self.before}
        for key, value in (("after", self.after), ("change", self.change), ("verdict", self.verdict)):
            if value is not None:
                out[key] = value
        return out


@dataclass
class ActionEntry:
    """One action of a run: what the playbook says, then its preview or result (or error) and rollback."""

    id: str
    description: str
    kind: str
    automated: bool
    risk: Risk
    status: ActionStatus = "pending"
    preview: dict[str, Any] | None = None
    # An applied action's outcome and the manifest its rollback takes (None when it changed nothing).
    result: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    error: str | None = None
    duration_seconds: float | None = None
    rollback: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActionEntry:
        return cls(id=data["id"], description=data.get("description", ""), kind=data["kind"],
                   automated=bool(data.get("automated")), risk=data.get("risk", "safe"),
                   status=data.get("status", "pending"), preview=data.get("preview"), result=data.get("result"),
                   manifest=data.get("manifest"), error=data.get("error"),
                   duration_seconds=data.get("durationSeconds"), rollback=data.get("rollback"))

    @property
    def outcome(self) -> dict[str, Any]:
        """The preview or the result, whichever the action has (empty when neither)."""
        return self.preview if self.preview is not None else (self.result or {})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "description": self.description, "kind": self.kind,
                               "automated": self.automated, "risk": self.risk, "status": self.status}
        if self.preview is not None:
            out["preview"] = self.preview
        if self.result is not None:
            out["result"] = self.result
            out["manifest"] = self.manifest  # shown even when null: the action applied but changed nothing
        if self.error is not None:
            out["error"] = self.error
        if self.duration_seconds is not None:
            out["durationSeconds"] = self.duration_seconds
        if self.rollback is not None:
            out["rollback"] = self.rollback
        return out


@dataclass(frozen=True)
class ExecutedAction:
    id: str
    summary: str
    bytes_saved: int | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExecutedAction:
        return cls(data["id"], data.get("summary", ""), data.get("bytesSaved"))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "summary": self.summary, "bytesSaved": self.bytes_saved}


@dataclass(frozen=True)
class PendingAction:
    """An action an execute left for a person, and why (manual, above the allowed risk, failed, ...)."""

    id: str
    description: str
    kind: str
    risk: Risk
    reason: str
    preview: dict[str, Any] | None
    error: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingAction:
        return cls(data["id"], data.get("description", ""), data.get("kind", ""), data.get("risk", "safe"),
                   data.get("reason", ""), data.get("preview"), data.get("error"))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "kind": self.kind, "risk": self.risk,
                "reason": self.reason, "preview": self.preview, "error": self.error}


@dataclass
class RunResult:
    """What a run did, filled in as it goes (so a failure keeps what was done)."""

    playbook_name: str | None = None
    metric: list[str] = field(default_factory=list)
    expected_improvement: str | None = None
    actions: list[ActionEntry] = field(default_factory=list)
    executed_actions: list[ExecutedAction] = field(default_factory=list)
    pending_manual_actions: list[PendingAction] = field(default_factory=list)
    verification: Verification | None = None
    bytes_saved: int | None = None
    # Writes of an action cut short, undone from the journal by a rollback (an ActionOutcome's JSON).
    journal_rollback: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        verification = data.get("verification")
        return cls(
            playbook_name=data.get("playbookName"),
            metric=list(data.get("metric") or ()),
            expected_improvement=data.get("expectedImprovement"),
            actions=[ActionEntry.from_json(a) for a in data.get("actions") or ()],
            executed_actions=[ExecutedAction.from_json(a) for a in data.get("executedActions") or ()],
            pending_manual_actions=[PendingAction.from_json(a) for a in data.get("pendingManualActions") or ()],
            verification=Verification.from_json(verification) if isinstance(verification, dict) else None,
            bytes_saved=data.get("bytesSaved"),
            journal_rollback=data.get("journalRollback"),
        )

    def to_json(self) -> dict[str, Any]:
        if self.playbook_name is None and not self.actions:
            return {}  # the run never started its playbook (queued, skipped, or its playbook went away)
        out: dict[str, Any] = {
            "playbookName": self.playbook_name,
            "metric": self.metric,
            "expectedImprovement": self.expected_improvement,
            "actions": [a.to_json() for a in self.actions],
            "executedActions": [a.to_json() for a in self.executed_actions],
            "pendingManualActions": [a.to_json() for a in self.pending_manual_actions],
        }
        if self.verification is not None:
            out["verification"] = self.verification.to_json()
        if self.bytes_saved is not None:
            out["bytesSaved"] = self.bytes_saved
        if self.journal_rollback is not None:
            out["journalRollback"] = self.journal_rollback
        return out


@dataclass
class Run:
    """One row of the audit log, JSON columns decoded."""

    id: str
    playbook: str
    mode: Mode
    state: RunState
    idem_key: str | None
    fingerprint: str | None
    starts_at: str | None
    alert_status: str | None
    resolved_at: float | None
    trigger: dict[str, Any]
    options: RunOptions
    created_at: float
    started_at: float | None
    finished_at: float | None
    owner: str | None
    message: str
    result: RunResult
    deliveries: int
    # The alert's endsAt as Alertmanager sent it with the resolution (None: firing, or an older audit log).
    ends_at: str | None = None
    # An execute's verdict, once settled (playbooks/outcomes.py); "" for runs recorded before verdicts were.
    outcome: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Run:
        data = dict(row)
        data["trigger"] = orjson.loads(data["trigger"])
        data["options"] = cast(RunOptions, orjson.loads(data["options"]))
        data["result"] = RunResult.from_json(orjson.loads(data["result"]))
        return cls(**data)

    @property
    def resolution_seconds(self) -> float | None:
        """From the alert's startsAt to its resolution (its endsAt, else when the resolution was received)."""
        started = parse_time(self.starts_at) if self.starts_at else None
        ended = (parse_time(self.ends_at) if self.ends_at else None) or self.resolved_at
        return None if started is None or ended is None else max(0.0, ended - started)

    @property
    def route(self) -> str | None:
        """The route the run looks at: asked for by hand, else the alert's `route` label."""
        labels = self.trigger.get("labels") or {}
        route = self.options.get("route") or labels.get("route")
        return route if isinstance(route, str) else None


@dataclass(frozen=True)
class NewRun:
    """A run to record. `idem_key` is None for runs started by hand (they are never duplicates)."""

    playbook: str
    mode: Mode
    trigger: dict[str, Any]
    options: RunOptions = field(default_factory=lambda: RunOptions())
    idem_key: str | None = None
    fingerprint: str | None = None
    starts_at: str | None = None
