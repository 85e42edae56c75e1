"""Undoing what a run wrote: rollback from the applied actions' manifests, and from the run's journal for what
a crash, a timeout or an exception left half-done.

The one module of the runner that knows how `actions/atomic` journals its writes: the rest of the package
asks here to clean up after an interrupted run or to roll one back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..config.model import Config
from .actions import KINDS, ActionContext, ActionError, ActionOutcome
from .actions.atomic import discard_temporaries, journal_manifests
from .actions.atomic import rollback as undo_writes
from .records import EXECUTE, FAILED, INTERRUPTED, ROLLED_BACK, SUCCEEDED, Run, RunResult, RunState, run_dir
from .timeout import call_with_timeout


def discard_leftovers(config: Config, run_id: str) -> None:
    """Remove the temporary files a write cut short left beside its target, where the site may serve them.

    Only once no process writes for the run any more: at start, or once the run is marked interrupted.
    """
    discard_temporaries(run_dir(config, run_id))


@dataclass(frozen=True)
class Undone:
    """A rollback's outcome: the run's new state and message, and its result with each action's rollback."""

    state: RunState
    message: str
    result: RunResult


def check_rollback(run: Run) -> None:
    """ActionError unless `run` is an execute that finished (or was interrupted): only those changed anything."""
    if run.mode != EXECUTE or run.state not in (SUCCEEDED, FAILED, INTERRUPTED):
        raise ActionError(f"run {run.id} is a {run.mode} run in state {run.state}: nothing to roll back")


def undo_run(run: Run, ctx: ActionContext, timeout: float, say: Callable[[str], None]) -> Undone:
    """Undo the applied actions of an execute, newest first, from their manifests; then the journal's rest."""
    check_rollback(run)
    result = run.result
    errors: list[str] = []
    done = 0
    for entry in reversed(result.actions):
        if entry.status != "applied" or not entry.manifest:
            continue
        kind = KINDS.get(entry.kind)
        if kind is None:
            errors.append(f"{entry.id}: kind {entry.kind!r} is not installed")
            continue
        say(f"{run.playbook}: rolling back {entry.id}")
        manifest = entry.manifest
        try:
            outcome = call_with_timeout(lambda k=kind, m=manifest: k.rollback(ctx, m),  # type: ignore[misc]
                                        timeout, entry.id)
        except Exception as exc:
            errors.append(f"{entry.id}: {exc}")
            continue
        entry.status = "rolled-back"
        entry.rollback = outcome.to_json()
        done += 1
    recovered = _rollback_journal(ctx, result, say)
    if recovered is not None:
        errors += recovered.errors
        result.journal_rollback = recovered.to_json()
        if any(c["action"] in ("removed", "restored") for c in recovered.changes):
            done += 1  # the unfinished action, undone from the journal
    if errors:
        return Undone(run.state, f"rollback incomplete: {'; '.join(errors)}", result)
    return Undone(ROLLED_BACK, f"rolled back {done} action(s)", result)


def _rollback_journal(ctx: ActionContext, result: RunResult, say: Callable[[str], None]) -> ActionOutcome | None:
    """Undo the journalled writes no applied action's manifest covers: those of an action a crash,
    a timeout or an exception stopped half-way (its manifest was never stored)."""
    covered = {
        item["path"]
        for entry in result.actions if entry.status in ("applied", "rolled-back")
        for key in ("created", "replaced") for item in (entry.manifest or {}).get(key, [])
    }
    outcomes: list[ActionOutcome] = []
    for manifest in journal_manifests(ctx.run_dir):
        manifest["created"] = [e for e in manifest["created"] if e["path"] not in covered]
        manifest["replaced"] = [e for e in manifest["replaced"] if e["path"] not in covered]
        if manifest["created"] or manifest["replaced"]:
            say(f"rolling back the unfinished writes of {manifest['kind']} from the journal")
            outcomes.append(undo_writes(ctx, manifest))
    if not outcomes:
        return None
    return ActionOutcome(
        summary="; ".join(o.summary for o in outcomes),
        changes=[c for o in outcomes for c in o.changes],
        errors=[e for o in outcomes for e in o.errors],
    )
