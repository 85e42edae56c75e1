"""The latest dry-run preview of each playbook in the audit log: what a recommendation says it would save."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..playbooks.records import DRY_RUN, SUCCEEDED, iso
from ..playbooks.store import Store

#: Runs of a playbook looked through, newest first, for its latest successful dry run.
LOOK_BACK = 50


@dataclass(frozen=True)
class Preview:
    run_id: str
    created_at: float
    bytes_saved: int | None
    actions: tuple[str, ...]  # each previewed action's summary, in the playbook's order

    def to_json(self) -> dict[str, Any]:
        return {"runId": self.run_id, "at": iso(self.created_at), "bytesSaved": self.bytes_saved,
                "actions": list(self.actions)}


def latest_preview(store: Store, playbook: str) -> Preview | None:
    """The newest dry run of `playbook` that succeeded, or None when the audit log has none."""
    for run in store.recent(limit=LOOK_BACK, playbook=playbook):
        if run.mode == DRY_RUN and run.state == SUCCEEDED:
            summaries = tuple(str(a.preview.get("summary", "")) for a in run.result.actions
                              if a.preview is not None and a.preview.get("summary"))
            return Preview(run.id, run.created_at, run.result.bytes_saved, summaries)
    return None
