"""One run, start to end: its actions in order, each with a timeout, the result written after every action.

A dry run asks every action for its preview; an execute applies the automated actions within the allowed
risk, previews the others (listed as pending manual actions), and measures the vital before, so the run can
later show before and after.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel

from ..config.model import Config
from ..config.playbooks import Risk
from ..eventlog import playbook_run
from ..metrics import Metrics
from .actions import KINDS, ActionContext, ActionError, ActionOutcome
from .actions.paths import NEEDS_SITE_ROOT, NeedsSiteRoot, needs_site_root
from .model import RISKS, Action, LoadedPlaybook, Playbooks
from .records import (
    DRY_RUN,
    EXECUTE,
    FAILED,
    SUCCEEDED,
    ActionEntry,
    ExecutedAction,
    PendingAction,
    Run,
    RunResult,
    RunState,
    run_dir,
)
from .store import Store
from .timeout import call_with_timeout
from .verify import Verifier, measure_before

log = logging.getLogger(__name__)

Attribution = Callable[[str, str | None], list[tuple[str, int]]]
Progress = Callable[[str], None]


class Executor:
    """Runs claimed runs; whoever claimed one (a pool worker, the command line) calls `execute`."""

    def __init__(
        self,
        config: Config,
        playbooks: Playbooks,
        store: Store,
        *,
        metrics: Metrics | None = None,
        verifier: Verifier | None = None,
        attribution: Attribution | None = None,
    ) -> None:
        self.config = config
        self.playbooks = playbooks
        self.store = store
        self.metrics = metrics
        self.verifier = verifier
        self._attribution = attribution

    def count(self, playbook: str, mode: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.playbook_runs.labels(playbook, mode, outcome).inc()

    def deferred(self) -> frozenset[str]:
        """The playbooks this replica leaves to others for a while: with the shared store and no site files
        here (no site root or allowed directory that exists), those with an action that needs them."""
        dirs = list(self.config.actions.allowed_dirs) or ([self.config.site_root] if self.config.site_root else [])
        if not self.store.db.shared or any(Path(d).is_dir() for d in dirs):
            return frozenset()
        return frozenset(book.id for book in self.playbooks.values()
                         if any(needs_site_root(a.kind, params) for a, params in zip(book.spec.actions, book.params,
                                                                                    strict=True)))

    def context(self, run: Run, progress: Progress | None = None) -> ActionContext:
        dirs = list(self.config.actions.allowed_dirs)
        if not dirs and self.config.site_root is not None:
            dirs = [self.config.site_root]
        attribution = self._attribution
        return ActionContext(
            run_id=run.id,
            config=self.config,
            allowed_dirs=tuple(Path(d).resolve() for d in dirs),
            run_dir=run_dir(self.config, run.id),
            alert_labels=dict(run.trigger.get("labels") or {}),
            attribution=(lambda kind, route: attribution(kind, route)) if attribution else (lambda kind, route: ()),
            progress=progress or (lambda line: log.debug("run %s: %s", run.id, line)),
        )

    def allowed_risk(self, run: Run) -> Risk:
        """An execute started by hand without autoApprove applies only `safe` actions; alerts follow config."""
        if run.trigger.get("type") != "alert" and not run.options.get("autoApprove"):
            return "safe"
        return self.config.playbooks.max_risk

    def execute(self, run: Run, progress: Progress | None = None) -> Run:
        """Run one claimed run to its end. Whatever fails (the audit log, a bug) ends the run `failed`:
        a run left `running` under a live owner would hold its playbook's concurrency slot until restart."""
        say = progress or (lambda line: None)
        result = run.result
        state: RunState
        try:
            state, message = self._perform(run, result, say, progress)
        except Exception as exc:
            log.exception("playbook run %s", run.id)
            state, message = FAILED, f"failed outside its actions: {type(exc).__name__}: {exc}"
        finished = self._finish(run, state, message, result)
        playbook_run(finished)  # playbook_previewed, playbook_executed (eventlog)
        if finished.state == state:  # else it was marked interrupted first, and counted so by who marked it
            self.count(run.playbook, run.mode, state)
        say(f"{run.playbook}: {state}: {message}")
        return finished

    def _finish(self, run: Run, state: RunState, message: str, result: RunResult) -> Run:
        """The final write, retried once (a locked database clears); when even that fails, logged."""
        for attempt in (1, 2):
            try:
                return self.store.finish(run.id, state, message, result)
            except Exception:
                if attempt == 1:
                    time.sleep(0.1)  # the store already waited out its busy timeout; this is a second chance
                    continue
                log.exception("playbook run %s: cannot record that it %s: %s", run.id, state, message)
        return replace(run, state=state, message=message, result=result, finished_at=time.time())

    def _perform(self, run: Run, result: RunResult, say: Progress,
                 progress: Progress | None) -> tuple[RunState, str]:
        """The run's actions, in order; `result` is filled in place, so a failure keeps what was done."""
        book = self.playbooks.get(run.playbook)
        if book is None:
            return FAILED, f"playbook {run.playbook!r} no longer exists"
        ctx = self.context(run, progress)
        _start(result, book)
        max_risk = self.allowed_risk(run)
        if run.mode == EXECUTE:
            ctx.run_dir.mkdir(parents=True, exist_ok=True)
            result.verification = measure_before(self.verifier, book, run.route)
        failed: list[str] = []
        skipped: list[str] = []
        stop_applying = False
        total = len(book.spec.actions)
        for index, (action, params) in enumerate(zip(book.spec.actions, book.params, strict=True)):
            entry = result.actions[index]
            apply = run.mode == EXECUTE and action.allowed_at(max_risk) and not stop_applying
            say(f"{run.playbook}: [{index + 1}/{total}] {action.id}: {'applying' if apply else 'previewing'}")
            started = time.monotonic()
            try:
                outcome = self._call(action, params, ctx, apply)
            except NeedsSiteRoot as exc:  # nothing to work on here: skipped, not failed
                entry.status, entry.error = "skipped", f"skipped: {exc}"
                skipped.append(action.id)
            except Exception as exc:
                entry.status = "failed"
                entry.error = str(exc) if isinstance(exc, ActionError) else f"{type(exc).__name__}: {exc}"
                failed.append(action.id)
                if run.mode == EXECUTE and action.allowed_at(max_risk):
                    stop_applying = True  # never build on a half-applied step
            else:
                if apply:
                    entry.status, entry.result, entry.manifest = "applied", outcome.to_json(), outcome.manifest
                    result.executed_actions.append(ExecutedAction(action.id, outcome.summary, outcome.bytes_saved))
                else:
                    entry.status, entry.preview = "previewed", outcome.to_json()
            entry.duration_seconds = round(time.monotonic() - started, 3)
            if run.mode == EXECUTE and entry.status != "applied":
                result.pending_manual_actions.append(_pending(action, entry, max_risk, stop_applying))
            say(f"{run.playbook}: [{index + 1}/{total}] {action.id}: {entry.status}")
            self.store.progress(run.id, result, f"{index + 1} of {total} actions done")
        saved = [entry.outcome.get("bytesSaved") for entry in result.actions]
        counted = [value for value in saved if isinstance(value, int)]
        result.bytes_saved = sum(counted) if counted else None
        return (FAILED if failed else SUCCEEDED), _message(run, book, result, failed, skipped)

    def _call(self, action: Action, params: BaseModel, ctx: ActionContext, apply: bool) -> ActionOutcome:
        kind = KINDS[action.kind]
        timeout = self.config.playbooks.action_timeout_seconds
        if apply:
            return call_with_timeout(lambda: kind.apply(ctx, params), timeout, action.id)
        return call_with_timeout(lambda: kind.preview(ctx, params), timeout, action.id)


def _start(result: RunResult, book: LoadedPlaybook) -> None:
    result.playbook_name = book.spec.name
    result.metric = list(book.spec.metric)
    result.expected_improvement = book.spec.expected_improvement
    result.actions = [ActionEntry(a.id, a.description, a.kind, a.automated, a.risk) for a in book.spec.actions]
    result.executed_actions = []
    result.pending_manual_actions = []


def _pending(action: Action, entry: ActionEntry, max_risk: Risk, stopped: bool) -> PendingAction:
    if not action.automated:
        reason = "manual: a person has to do this"
    elif RISKS.index(action.risk) > RISKS.index(max_risk):
        reason = f"risk {action.risk} is above the allowed {max_risk} (playbooks.max_risk; autoApprove)"
    elif entry.status == "skipped":
        reason = entry.error or "skipped"
    elif stopped and entry.status != "failed":
        reason = "not applied: an earlier action failed"
    else:
        reason = "failed"
    return PendingAction(action.id, action.description, action.kind, action.risk, reason, entry.preview, entry.error)


def _message(run: Run, book: LoadedPlaybook, result: RunResult, failed: list[str], skipped: list[str]) -> str:
    count = len(book.spec.actions)
    if run.mode == DRY_RUN:
        text = f"dry run: {count - len(failed) - len(skipped)} of {count} actions previewed; nothing was changed"
    else:
        applied = len(result.executed_actions)
        pending = len(result.pending_manual_actions)
        text = f"executed {applied} of {count} actions; {pending} pending manual action(s)"
    if skipped:
        text += f"; skipped ({NEEDS_SITE_ROOT}): {', '.join(skipped)}"
    if failed:
        text += f"; failed: {', '.join(failed)}"
    return text
