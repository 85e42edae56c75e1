"""A playbook run as the API answers it and `perfbudget playbooks run` prints it (README, "HTTP endpoints").

One presenter for `web/perffix.py` and the command line, so both show the same fields: mode, playbookId,
message, executedActions, pendingManualActions, expectedImprovement, estimatedCompletionTime,
verificationUrl, ... A reader without a token with the "read" scope gets the public view (`web/public.py`).
"""

from __future__ import annotations

from typing import Any

from ..playbooks.records import DRY_RUN, EXECUTE, Run, iso
from ..playbooks.runner import Runner
from .public import Redactor, public_run

# Rough seconds per action for `estimatedCompletionTime` while a run waits or runs: previews read and
# measure, applies also write. A finished run reports its real finish time instead.
ESTIMATE_SECONDS = {DRY_RUN: 5.0, EXECUTE: 30.0}


def run_json(runner: Runner, run: Run, *, full: bool = True, verify: bool = True,
             detail: bool = True) -> dict[str, Any]:
    """`full` adds the actions, options, verification and events (a list of runs leaves them out);
    `verify` false skips measuring the vital since the run (with Prometheus, one query per run);
    `detail` false gives the public view, for a reader without the "read" scope."""
    result = run.result
    base = runner.config.actions.external_url or ""
    if run.finished_at is not None:
        eta = run.finished_at
    else:
        book = runner.playbooks.get(run.playbook)
        count = len(result.actions) or (len(book.spec.actions) if book is not None else 1)
        eta = (run.started_at or run.created_at) + count * ESTIMATE_SECONDS[run.mode]
    expected = result.expected_improvement
    if expected is None and run.playbook in runner.playbooks:
        expected = runner.playbooks[run.playbook].spec.expected_improvement
    out: dict[str, Any] = {
        "id": run.id,
        "playbookId": run.playbook,
        "mode": run.mode,
        "state": run.state,
        "message": run.message,
        "executedActions": [action.to_json() for action in result.executed_actions],
        "pendingManualActions": [action.to_json() for action in result.pending_manual_actions],
        "expectedImprovement": expected,
        "estimatedCompletionTime": iso(eta),
        "verificationUrl": f"{base}/api/perf-fix/runs/{run.id}",
        "trigger": run.trigger,
        "alert": None if run.fingerprint is None else {
            "fingerprint": run.fingerprint, "startsAt": run.starts_at, "status": run.alert_status,
            "resolvedAt": iso(run.resolved_at)},
        "deliveries": run.deliveries,
        "createdAt": iso(run.created_at),
        "startedAt": iso(run.started_at),
        "finishedAt": iso(run.finished_at),
        "bytesSaved": result.bytes_saved,
    }
    if full:
        verification = runner.verification(run, measure=verify) if run.mode == EXECUTE else None
        out["actions"] = [action.to_json() for action in result.actions]
        out["options"] = run.options
        out["verification"] = None if verification is None else verification.to_json()
        out["events"] = run.events
    return out if detail else public_run(out, Redactor(runner.config))
