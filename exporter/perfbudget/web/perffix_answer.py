"""The founding contract's answer to `POST /api/perf-fix`, and the `verify` block of
`GET /api/web-vitals?verify=<run id>` (README, "HTTP endpoints").

The contract's fields come first: `ok`, `mode` (`executed` or `dry-run`), `playbook` (its name), `message`
("Executed 2 of 3 actions: 1 needs a person"), `executedActions` as `{id, description, automated, risk}`
with the bytes each action measured in its description, `pendingManualActions` (a count),
`expectedImprovement`, `estimatedCompletionTime` ("~15 minutes") and `verificationUrl`. The run's own fields
(`web/runs.run_json`: id, state, trigger, ...) follow; the few whose names the contract takes are kept
under other names (`RENAMED`), so nothing the run says is lost.
"""

from __future__ import annotations

import re
from typing import Any

from ..playbooks.actions.paths import NEEDS_SITE_ROOT
from ..playbooks.estimates import change_text, completion_text, estimate, expected_improvement
from ..playbooks.model import LoadedPlaybook
from ..playbooks.records import DRY_RUN, EXECUTE, FAILED, INTERRUPTED, QUEUED, RUNNING, SUCCEEDED, ActionEntry, Run
from ..playbooks.runner import Runner
from ..playbooks.waiters import Waited
from .runs import run_json

#: A run id as `records.new_run_id` makes them.
RUN_ID = re.compile(r"^[0-9a-f]{11}-[0-9a-f]{10}$")
#: The contract's `mode` for each run mode.
CONTRACT_MODES = {DRY_RUN: "dry-run", EXECUTE: "executed"}
#: The run's fields whose names the contract takes, and where they are kept.
RENAMED = {
    "mode": "runMode",
    "message": "runMessage",
    "executedActions": "executedActionResults",
    "pendingManualActions": "pendingManualActionList",
    "estimatedCompletionTime": "estimatedCompletionAt",
    "verificationUrl": "runUrl",
}


def run_url(run_id: str) -> str:
    """Where a run is polled (the `Location` of a 202)."""
    return f"/api/perf-fix/runs/{run_id}"


def byte_text(count: int) -> str:
    """The seed's `2.4MB`, `480KB`: decimal units, no space."""
    if count < 1000:
        return f"{count}B"
    if count < 1_000_000:
        return f"{count / 1000:.0f}KB"
    return f"{count / 1_000_000:.1f}MB"


def _figures(entry: ActionEntry) -> str:
    before, after = entry.outcome.get("bytesBefore"), entry.outcome.get("bytesAfter")
    if not isinstance(before, int) or not isinstance(after, int) or before <= 0 or before == after:
        return ""
    return f" ({byte_text(before)} → {byte_text(after)})"


def _done(run: Run, entry: ActionEntry) -> bool:
    """An action the contract lists in `executedActions`: applied, or, in a dry run, an automated preview."""
    if run.mode == EXECUTE:
        return entry.status == "applied"
    return entry.automated and entry.status == "previewed"


def contract_actions(run: Run) -> list[dict[str, Any]]:
    return [{"id": entry.id, "description": entry.description + _figures(entry), "automated": entry.automated,
             "risk": entry.risk} for entry in run.result.actions if _done(run, entry)]


def pending_count(runner: Runner, run: Run, book: LoadedPlaybook | None) -> int:
    """Actions left for a person: an execute's pending actions once it ended; before that (and for a dry
    run) the actions the policy will not apply (manual ones, and above the allowed risk for an execute)."""
    if book is None or (run.mode == EXECUTE and run.finished_at is not None):
        return len(run.result.pending_manual_actions)
    if run.mode == DRY_RUN:
        return sum(not action.automated for action in book.spec.actions)
    max_risk = runner.executor.allowed_risk(run)
    return sum(not action.allowed_at(max_risk) for action in book.spec.actions)


def contract_message(run: Run, total: int, done: int, pending: int) -> str:
    """"Executed 4 of 5 actions", "Previewed 3 of 4 actions: 1 needs a person", "Queued: 3 actions"."""
    if run.state == QUEUED:
        return f"Queued: {total} action(s) to {'apply or preview' if run.mode == EXECUTE else 'preview'}"
    entries = run.result.actions
    if run.state == RUNNING:
        started = sum(entry.status != "pending" for entry in entries)
        return f"Running: {started} of {total} action(s) done"
    if not entries:  # ended before its first action (its playbook went away, a failure outside the actions)
        return run.message
    text = f"{'Executed' if run.mode == EXECUTE else 'Previewed'} {done} of {total} actions"
    if pending:
        text += f": {pending} need{'s' if pending == 1 else ''} a person"
    skipped = sum(entry.status == "skipped" for entry in entries)
    failed = sum(entry.status == "failed" for entry in entries)
    if skipped:
        text += f"; {skipped} skipped ({NEEDS_SITE_ROOT})"
    if failed:
        text += f"; {failed} failed"
    if run.state != SUCCEEDED and not (run.state == FAILED and failed):
        text += f" ({run.state})"  # interrupted, rolled back, or failed outside its actions
    return text


def _byte_totals(run: Run) -> tuple[int, int] | None:
    """Bytes before and after over the run's image actions, as they previewed or applied them."""
    before = after = 0
    for entry in run.result.actions:
        b, a = entry.outcome.get("bytesBefore"), entry.outcome.get("bytesAfter")
        if entry.kind == "images" and isinstance(b, int) and isinstance(a, int):
            before, after = before + b, after + a
    return (before, after) if before else None


def improvement(runner: Runner, run: Run, book: LoadedPlaybook | None) -> str | None:
    """`expectedImprovement` of a run (estimates.expected_improvement, from what the run measured)."""
    if book is None:
        return run.result.expected_improvement
    verification = run.result.verification
    before = (verification.before or {}).get("p75") if verification is not None else None
    # The LCP resource load duration is not recorded yet (LCP subparts): the model gives the prose.
    return expected_improvement(book, p75=before if isinstance(before, (int, float)) else None,
                                resource_load=None, byte_totals=_byte_totals(run))


def perffix_answer(runner: Runner, run: Run, *, detail: bool, wait: Waited | None = None) -> dict[str, Any]:
    """The contract's answer for `run`, as far as it is known, then the run's own fields (and `wait`: whether
    the answer waited for the run, and why it answers now)."""
    shown = run_json(runner, run, detail=detail)
    kept = {new: shown.pop(old) for old, new in RENAMED.items() if old in shown}
    book = runner.playbooks.get(run.playbook)
    total = len(book.spec.actions) if book is not None else len(run.result.actions)
    actions = contract_actions(run)
    pending = pending_count(runner, run, book)
    guess = estimate(runner.store, book, run.mode, runner.executor.allowed_risk(run), exclude=run.id) \
        if book is not None else None
    ok = run.state not in (FAILED, INTERRUPTED)
    base = runner.config.actions.external_url or ""
    answer: dict[str, Any] = {
        "ok": ok,
        "mode": CONTRACT_MODES[run.mode],
        "playbook": book.spec.name if book is not None else (run.result.playbook_name or run.playbook),
        "message": contract_message(run, total, len(actions), pending),
        "executedActions": actions,
        "pendingManualActions": pending,
        "expectedImprovement": improvement(runner, run, book) or "",
        "estimatedCompletionTime": completion_text(run, guess) if guess is not None else kept.get(
            "estimatedCompletionAt") or "",
        "verificationUrl": f"{base}/api/web-vitals?verify={run.id}",
    }
    if not ok:
        answer["error"] = kept["runMessage"]
    return {**answer, **shown, **kept, "estimate": None if guess is None else guess.to_json(),
            "poll": run_url(run.id), "wait": None if wait is None else wait.to_json()}


def verify_json(runner: Runner, run: Run, *, detail: bool) -> dict[str, Any]:
    """The `verify` block: the run's before and after of its vital (as verify.compare measures it)."""
    shown = run_json(runner, run, detail=detail)
    verification = shown.get("verification")
    if verification is None:
        reason = ("a dry run changes nothing: there is no before and after" if run.mode == DRY_RUN
                  else "the run has not measured its vital yet")
        verification = {"available": False, "reason": reason}
    before, after = verification.get("before") or {}, verification.get("after") or {}
    measured = None
    if isinstance(before.get("p75"), (int, float)) and isinstance(after.get("p75"), (int, float)):
        measured = change_text(str(verification.get("metric")), before["p75"], after["p75"],
                               str(before.get("unit") or "ms"))
    book = runner.playbooks.get(run.playbook)
    return {
        "runId": run.id,
        "playbookId": run.playbook,
        "playbook": book.spec.name if book is not None else run.playbook,
        "mode": CONTRACT_MODES[run.mode],
        "state": run.state,
        "finishedAt": shown.get("finishedAt"),
        "available": bool(verification.get("available")),
        "reason": verification.get("reason"),
        "metric": verification.get("metric"),
        "route": verification.get("route"),
        "before": verification.get("before"),
        "after": verification.get("after"),
        "change": verification.get("change"),
        "verdict": verification.get("verdict"),
        "improvement": measured,
        "run": run_url(run.id),
    }
