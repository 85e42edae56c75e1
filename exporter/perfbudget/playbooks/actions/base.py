"""The one signature every playbook action kind shares.

An action kind is a module in this package exposing a `KIND` object that satisfies `ActionKind`; the
registry in `__init__.py` maps kind names to them (one table, like blackbox_exporter's probers).
`preview` must not change anything and must report what `apply` would do, with real numbers;
`apply` does it, idempotently, and returns a manifest from which `rollback` can undo it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from ...config.model import Config


class ActionParams(BaseModel):
    """Base of every kind's `Params`: unknown keys are errors, a loaded playbook's parameters never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionError(Exception):
    """An action could not run at all (bad parameters at run time, nothing allowed to touch, ...)."""


class PathRefused(ActionError):
    """A path resolved outside the allowed directories (symlinks and '..' included)."""


@dataclass(frozen=True)
class ActionContext:
    run_id: str
    config: Config
    # Real, resolved directories the action may read and change.
    allowed_dirs: tuple[Path, ...]
    # Where the action may keep manifests and backups for rollback: data_dir/runs/<run_id>/.
    run_dir: Path
    # Labels of the alert that started the run (empty for a run started by hand).
    alert_labels: Mapping[str, str] = field(default_factory=dict)
    # Attribution top-K from the receiver: (kind, route or None for all routes) -> [(value, count), ...],
    # most frequent first. Kinds: "lcp.url", "lcp.target", "inp.target", "inp.script", "cls.target".
    attribution: Callable[[str, str | None], Sequence[tuple[str, int]]] = lambda kind, route: ()
    # Progress lines for the command line ("images: 40/100 encoded").
    progress: Callable[[str], None] = lambda line: None


@dataclass
class ActionOutcome:
    """What an action would do (preview) or did (apply). Everything here is JSON-serialisable."""

    summary: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    bytes_before: int | None = None
    bytes_after: int | None = None
    errors: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # For apply: what rollback needs (files written, backups taken). None when nothing changed.
    manifest: dict[str, Any] | None = None

    @property
    def bytes_saved(self) -> int | None:
        if self.bytes_before is None or self.bytes_after is None:
            return None
        return self.bytes_before - self.bytes_after

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "changes": self.changes,
            "bytesBefore": self.bytes_before,
            "bytesAfter": self.bytes_after,
            "bytesSaved": self.bytes_saved,
            "errors": self.errors,
            "details": self.details,
        }


def alert_route(ctx: ActionContext, explicit: str | None) -> str | None:
    """The route an action looks at: its own parameter, else the alert's `route` label, else all routes."""
    return explicit or ctx.alert_labels.get("route") or None


class ActionKind(Protocol):
    name: str

    # Pydantic model of the action's parameters; validated when the playbook is loaded (extra="forbid").
    # Read-only here so that a kind's own subclass of ActionParams satisfies the protocol.
    @property
    def Params(self) -> type[BaseModel]: ...

    def preview(self, ctx: ActionContext, params: Any) -> ActionOutcome: ...

    def apply(self, ctx: ActionContext, params: Any) -> ActionOutcome: ...

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome: ...
