"""The playbook runner: a bounded pool of worker threads taking queued runs from the audit log.

Each action runs with a timeout. A dry run asks every action for its preview; an execute applies the
automated actions within the allowed risk, previews the others (listed as pending manual actions), and
measures the vital before, so the run can later show before and after. Every step is written to the
audit log as it happens.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from ..config.model import Config
from ..config.playbooks import Risk
from ..metrics import Metrics
from ..summary import SummaryService, quantile
from ..vitals import VITALS
from .actions import KINDS, ActionContext, ActionError, ActionOutcome
from .actions.atomic import discard_temporaries, journal_manifests
from .actions.atomic import rollback as atomic_rollback
from .model import RISKS, Action, LoadedPlaybook, Playbooks
from .store import (
    DRY_RUN,
    EXECUTE,
    FAILED,
    INTERRUPTED,
    ROLLED_BACK,
    SUCCEEDED,
    NewRun,
    Run,
    Store,
    new_owner,
    owner_alive,
    release_owner,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Rough seconds per action for `estimatedCompletionTime` while a run waits or runs: previews read and
# measure, applies also write. A finished run reports its real finish time instead.
_ESTIMATE_SECONDS = {DRY_RUN: 5.0, EXECUTE: 30.0}
# How long after an execute the "after" window must be before it is compared with the one before.
VERIFY_WINDOW = 3600


class ActionTimeout(ActionError):
    pass


def _call_with_timeout(fn: Callable[[], T], timeout: float, name: str) -> T:
    """`fn()` in its own thread; ActionTimeout after `timeout` seconds.

    Python cannot stop a thread, so a timed-out action is abandoned (a daemon thread) and the run goes on
    as failed; actions are written to be idempotent and to keep a way back, so that is recoverable.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"perfbudget-action-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ActionTimeout(f"timed out after {timeout:g}s (playbooks.action_timeout_seconds)")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- verification -------------------------------------------------------------------------------


class Verifier(Protocol):
    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> dict[str, Any]: ...


class LocalVerifier:
    """p75 from the exporter's own histograms and snapshots (the same numbers as GET /api/web-vitals)."""

    def __init__(self, summary: SummaryService, edges: Mapping[str, tuple[float, ...]]) -> None:
        self._summary = summary
        self._edges = edges

    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> dict[str, Any]:
        vital = VITALS[metric]
        counts = self._summary.window_counts(start, end, route).get(metric, [])
        value = quantile(0.75, self._edges[metric], counts)
        return {
            "p75": None if value is None else round(vital.to_display(value), 4),
            "unit": vital.display_unit or "score",
            "samples": int(counts[-1]) if counts else 0,
            "from": iso(start),
            "to": iso(end if end is not None else time.time()),
            "source": "exporter",
        }


class PrometheusVerifier:
    """p75 from Prometheus (`actions.prometheus_url`), `histogram_quantile` over `increase` of the buckets."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout

    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> dict[str, Any]:
        vital = VITALS[metric]
        at = end if end is not None else time.time()
        seconds = max(60, int(at - start))
        # The route comes from an alert label or a request body: as a JSON string it is also a valid PromQL
        # string (same escapes for quote, backslash and control characters), so it cannot break the query.
        selector = f"{{route={json.dumps(route, ensure_ascii=False)}}}" if route else ""
        query = f"histogram_quantile(0.75, sum by (le) (increase({vital.metric}_bucket{selector}[{seconds}s])))"
        out: dict[str, Any] = {"p75": None, "unit": vital.display_unit or "score", "from": iso(at - seconds),
                               "to": iso(at), "source": "prometheus", "query": query}
        url = f"{self._url}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"})
        try:
            with urllib.request.urlopen(url, timeout=self._timeout) as response:
                body = json.loads(response.read())
            result = body["data"]["result"]
            if result:
                value = float(result[0]["value"][1])
                if value == value:  # NaN when no loads arrived in the window
                    out["p75"] = round(vital.to_display(value), 4)
        except (OSError, ValueError, KeyError, IndexError) as exc:
            out["error"] = f"Prometheus query failed: {exc}"
        return out


def _vital_of(book: LoadedPlaybook) -> str | None:
    return next((m for m in book.spec.metric if m in VITALS), None)


# --- the runner ---------------------------------------------------------------------------------


class Runner:
    """Runs playbooks: a worker pool for the server, or `run_now` for the command line."""

    def __init__(
        self,
        config: Config,
        playbooks: Playbooks,
        store: Store,
        *,
        metrics: Metrics | None = None,
        verifier: Verifier | None = None,
        attribution: Callable[[str, str | None], list[tuple[str, int]]] | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        self.config = config
        self.playbooks = playbooks
        self.store = store
        self.metrics = metrics
        self.verifier = verifier
        self._attribution = attribution
        self._poll = poll_seconds
        self.owner = new_owner()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- pool ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start `playbooks.worker_threads` workers; they also take runs other processes queued."""
        if self._threads:
            return
        self._stop.clear()
        if not owner_alive(self.owner):  # started again after close()
            self.owner = new_owner()
        for index in range(self.config.playbooks.worker_threads):
            thread = threading.Thread(target=self._work, args=(index,), name=f"perfbudget-runner-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking runs; wait up to `timeout` for runs in flight (one still running then is interrupted
        at the next start or by another process's workers)."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if not any(thread.is_alive() for thread in self._threads):
            release_owner(self.owner)
        self._threads.clear()

    def _work(self, index: int) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if index == 0:
                    self._reap()
                while not self._stop.is_set():
                    run = self.store.claim(self.owner, self.config.playbooks.max_concurrent_per_playbook)
                    if run is None:
                        break
                    self._execute(run)
            except Exception:  # a locked database or a bug in one run must not kill the worker
                log.exception("playbook worker %d", index)
            self._wake.wait(self._poll)

    def _reap(self) -> None:
        for run in self.store.interrupt_orphans(owner_alive):
            discard_temporaries(self.config.data_dir / "runs" / run.id)
            self.count(run.playbook, run.mode, INTERRUPTED)

    def count(self, playbook: str, mode: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.playbook_runs.labels(playbook, mode, outcome).inc()

    # --- starting runs ------------------------------------------------------------------------

    def mode_for_alert(self, playbook: str) -> str:
        rules = self.config.playbooks
        return EXECUTE if rules.execute_on_alert and playbook in rules.execute else DRY_RUN

    def submit_manual(self, playbook: str, *, execute: bool, auto_approve: bool, trigger: dict[str, Any],
                      route: str | None = None) -> Run:
        """Record a run started by hand (API or command line) and wake a worker. The caller checks policy."""
        new = NewRun(playbook, EXECUTE if execute else DRY_RUN, trigger,
                     {"autoApprove": auto_approve, "route": route})
        run = self.store.submit(new, queue_size=self.config.playbooks.queue_size)
        self.wake()
        return run

    def run_now(self, run_id: str, progress: Callable[[str], None] | None = None) -> Run:
        """Claim and run one queued run in this thread (the command line's `run`)."""
        run = self.store.claim(self.owner, self.config.playbooks.max_concurrent_per_playbook, run_id)
        if run is None:
            current = self.store.get(run_id)
            state = current.state if current else "missing"
            raise ActionError(f"run {run_id} cannot start: it is {state}, or "
                              f"{self.config.playbooks.max_concurrent_per_playbook} runs of its playbook are running")
        return self._execute(run, progress)

    # --- one run ------------------------------------------------------------------------------

    def context(self, run: Run, progress: Callable[[str], None] | None = None) -> ActionContext:
        dirs = list(self.config.actions.allowed_dirs)
        if not dirs and self.config.site_root is not None:
            dirs = [self.config.site_root]
        attribution = self._attribution
        return ActionContext(
            run_id=run.id,
            config=self.config,
            allowed_dirs=tuple(Path(d).resolve() for d in dirs),
            run_dir=self.config.data_dir / "runs" / run.id,
            alert_labels=dict(run.trigger.get("labels") or {}),
            attribution=(lambda kind, route: attribution(kind, route)) if attribution else (lambda kind, route: ()),
            progress=progress or (lambda line: log.debug("run %s: %s", run.id, line)),
        )

    def allowed_risk(self, run: Run) -> Risk:
        """An execute started by hand without autoApprove applies only `safe` actions; alerts follow config."""
        limit = self.config.playbooks.max_risk
        if run.trigger.get("type") != "alert" and not run.options.get("autoApprove"):
            return "safe"
        return limit

    def _execute(self, run: Run, progress: Callable[[str], None] | None = None) -> Run:
        """Run one claimed run to its end. Whatever fails (the audit log, a bug) ends the run `failed`:
        a run left `running` under a live owner would hold its playbook's concurrency slot until restart."""
        say = progress or (lambda line: None)
        result: dict[str, Any] = dict(run.result)
        try:
            state, message = self._perform(run, result, say, progress)
        except Exception as exc:
            log.exception("playbook run %s", run.id)
            state, message = FAILED, f"failed outside its actions: {type(exc).__name__}: {exc}"
        finished = self._finish(run, state, message, result)
        self.count(run.playbook, run.mode, state)
        say(f"{run.playbook}: {state}: {message}")
        return finished

    def _finish(self, run: Run, state: str, message: str, result: dict[str, Any]) -> Run:
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

    def _perform(self, run: Run, result: dict[str, Any], say: Callable[[str], None],
                 progress: Callable[[str], None] | None) -> tuple[str, str]:
        """The run's actions, in order; `result` is filled in place, so a failure keeps what was done."""
        book = self.playbooks.get(run.playbook)
        if book is None:
            return FAILED, f"playbook {run.playbook!r} no longer exists"
        ctx = self.context(run, progress)
        route = run.options.get("route") or (run.trigger.get("labels") or {}).get("route")
        result.update(self._initial_result(run, book))
        max_risk = self.allowed_risk(run)
        if run.mode == EXECUTE:
            ctx.run_dir.mkdir(parents=True, exist_ok=True)
            result["verification"] = self._before(book, route)
        failed: list[str] = []
        stop_applying = False
        for index, (action, params) in enumerate(zip(book.spec.actions, book.params, strict=True)):
            entry = result["actions"][index]
            apply = run.mode == EXECUTE and action.allowed_at(max_risk) and not stop_applying
            say(f"{run.playbook}: [{index + 1}/{len(book.spec.actions)}] {action.id}: "
                f"{'applying' if apply else 'previewing'}")
            started = time.monotonic()
            try:
                outcome = self._call(action, params, ctx, apply)
            except Exception as exc:
                entry.update(status="failed", error=f"{type(exc).__name__}: {exc}" if not isinstance(
                    exc, ActionError) else str(exc))
                failed.append(action.id)
                if run.mode == EXECUTE and action.allowed_at(max_risk):
                    stop_applying = True  # never build on a half-applied step
            else:
                payload = outcome.to_json()
                if apply:
                    entry.update(status="applied", result=payload, manifest=outcome.manifest)
                    result["executedActions"].append({"id": action.id, "summary": outcome.summary,
                                                      "bytesSaved": outcome.bytes_saved})
                else:
                    entry.update(status="previewed", preview=payload)
            entry["durationSeconds"] = round(time.monotonic() - started, 3)
            if run.mode == EXECUTE and entry["status"] != "applied":
                result["pendingManualActions"].append(self._pending(action, entry, max_risk, stop_applying))
            say(f"{run.playbook}: [{index + 1}/{len(book.spec.actions)}] {action.id}: {entry['status']}")
            self.store.progress(run.id, result, f"{index + 1} of {len(book.spec.actions)} actions done")
        saved = [a.get("preview", a.get("result", {})).get("bytesSaved") for a in result["actions"]]
        result["bytesSaved"] = sum(v for v in saved if isinstance(v, int)) if any(
            isinstance(v, int) for v in saved) else None
        return (FAILED if failed else SUCCEEDED), self._message(run, book, result, failed)

    def _call(self, action: Action, params: BaseModel, ctx: ActionContext, apply: bool) -> ActionOutcome:
        kind = KINDS[action.kind]
        timeout = self.config.playbooks.action_timeout_seconds
        if apply:
            return _call_with_timeout(lambda: kind.apply(ctx, params), timeout, action.id)
        return _call_with_timeout(lambda: kind.preview(ctx, params), timeout, action.id)

    @staticmethod
    def _initial_result(run: Run, book: LoadedPlaybook) -> dict[str, Any]:
        return {
            "playbookName": book.spec.name,
            "metric": list(book.spec.metric),
            "expectedImprovement": book.spec.expected_improvement,
            "actions": [
                {"id": a.id, "description": a.description, "kind": a.kind, "automated": a.automated,
                 "risk": a.risk, "status": "pending"}
                for a in book.spec.actions
            ],
            "executedActions": [],
            "pendingManualActions": [],
        }

    @staticmethod
    def _pending(action: Action, entry: dict[str, Any], max_risk: Risk, stopped: bool) -> dict[str, Any]:
        if not action.automated:
            reason = "manual: a person has to do this"
        elif RISKS.index(action.risk) > RISKS.index(max_risk):
            reason = f"risk {action.risk} is above the allowed {max_risk} (playbooks.max_risk; autoApprove)"
        elif stopped and entry.get("status") != "failed":
            reason = "not applied: an earlier action failed"
        else:
            reason = "failed"
        return {"id": action.id, "description": action.description, "kind": action.kind, "risk": action.risk,
                "reason": reason, "preview": entry.get("preview"), "error": entry.get("error")}

    @staticmethod
    def _message(run: Run, book: LoadedPlaybook, result: dict[str, Any], failed: list[str]) -> str:
        count = len(book.spec.actions)
        if run.mode == DRY_RUN:
            text = f"dry run: {count - len(failed)} of {count} actions previewed; nothing was changed"
        else:
            applied = len(result["executedActions"])
            pending = len(result["pendingManualActions"])
            text = f"executed {applied} of {count} actions; {pending} pending manual action(s)"
        if failed:
            text += f"; failed: {', '.join(failed)}"
        return text

    # --- verification -------------------------------------------------------------------------

    def _before(self, book: LoadedPlaybook, route: str | None) -> dict[str, Any]:
        metric = _vital_of(book)
        if metric is None or self.verifier is None:
            reason = "no Web Vital to measure" if metric is None else "no data source"
            return {"available": False, "reason": reason}
        now = time.time()
        try:
            before = self.verifier.p75(metric, route, now - VERIFY_WINDOW, None)
        except Exception as exc:  # no measurement is no reason to fail (or never finish) the run
            log.warning("playbook %s: verification unavailable: %s", book.id, exc)
            return {"available": False, "reason": f"verification unavailable: {type(exc).__name__}: {exc}"}
        return {"available": True, "metric": metric, "route": route, "before": before}

    def verification(self, run: Run, *, measure: bool = True) -> dict[str, Any] | None:
        """Before (measured when the execute started) against after (the loads since it finished).

        With `measure` false, only what was stored (no query of the data source)."""
        stored = run.result.get("verification")
        if (not stored or not stored.get("available") or run.finished_at is None or self.verifier is None
                or not measure):
            return stored if isinstance(stored, dict) else None
        try:
            after = self.verifier.p75(stored["metric"], stored.get("route"), run.finished_at, None)
        except Exception as exc:  # a page that shows the run must not fail with its data source
            reason = f"verification unavailable: {type(exc).__name__}: {exc}"
            return {**stored, "after": {"p75": None, "error": reason}, "verdict": "verification unavailable"}
        before_value, after_value = stored["before"].get("p75"), after.get("p75")
        out = {**stored, "after": after}
        if before_value and after_value is not None:
            change = (after_value - before_value) / before_value
            out["change"] = round(change, 4)
            out["verdict"] = "improved" if change < -0.05 else ("regressed" if change > 0.05 else "unchanged")
        else:
            out["verdict"] = "waiting for data"
        return out

    # --- rollback -----------------------------------------------------------------------------

    def rollback(self, run_id: str, progress: Callable[[str], None] | None = None) -> Run:
        """Undo the applied actions of an execute, newest first, from their manifests."""
        say = progress or (lambda line: None)
        run = self.store.get(run_id)
        if run is None:
            raise ActionError(f"no run {run_id}")
        if run.mode != EXECUTE or run.state not in (SUCCEEDED, FAILED, INTERRUPTED):
            raise ActionError(f"run {run_id} is a {run.mode} run in state {run.state}: nothing to roll back")
        ctx = self.context(run, progress)
        result = dict(run.result)
        errors: list[str] = []
        done = 0
        for entry in reversed(result.get("actions", [])):
            if entry.get("status") != "applied" or not entry.get("manifest"):
                continue
            kind = KINDS.get(entry["kind"])
            if kind is None:
                errors.append(f"{entry['id']}: kind {entry['kind']!r} is not installed")
                continue
            say(f"{run.playbook}: rolling back {entry['id']}")
            manifest = entry["manifest"]
            try:
                outcome = _call_with_timeout(lambda k=kind, m=manifest: k.rollback(ctx, m),  # type: ignore[misc]
                                             self.config.playbooks.action_timeout_seconds, entry["id"])
            except Exception as exc:
                errors.append(f"{entry['id']}: {exc}")
                continue
            entry.update(status="rolled-back", rollback=outcome.to_json())
            done += 1
        recovered = self._rollback_journal(ctx, result, say)
        if recovered is not None:
            errors += recovered.errors
            result["journalRollback"] = recovered.to_json()
            if any(c["action"] in ("removed", "restored") for c in recovered.changes):
                done += 1  # the unfinished action, undone from the journal
        if errors:
            message = f"rollback incomplete: {'; '.join(errors)}"
            return self.store.mark(run_id, run.state, message, result)
        return self.store.mark(run_id, ROLLED_BACK, f"rolled back {done} action(s)", result)

    @staticmethod
    def _rollback_journal(ctx: ActionContext, result: dict[str, Any],
                          say: Callable[[str], None]) -> ActionOutcome | None:
        """Undo the journalled writes no applied action's manifest covers: those of an action a crash,
        a timeout or an exception stopped half-way (its manifest was never stored)."""
        covered = {
            item["path"]
            for entry in result.get("actions", []) if entry.get("status") in ("applied", "rolled-back")
            for key in ("created", "replaced") for item in (entry.get("manifest") or {}).get(key, [])
        }
        outcomes: list[ActionOutcome] = []
        for manifest in journal_manifests(ctx.run_dir):
            manifest["created"] = [e for e in manifest["created"] if e["path"] not in covered]
            manifest["replaced"] = [e for e in manifest["replaced"] if e["path"] not in covered]
            if manifest["created"] or manifest["replaced"]:
                say(f"rolling back the unfinished writes of {manifest['kind']} from the journal")
                outcomes.append(atomic_rollback(ctx, manifest))
        if not outcomes:
            return None
        return ActionOutcome(
            summary="; ".join(o.summary for o in outcomes),
            changes=[c for o in outcomes for c in o.changes],
            errors=[e for o in outcomes for e in o.errors],
        )

    # --- presentation -------------------------------------------------------------------------

    def to_json(self, run: Run, *, full: bool = True, verify: bool = True) -> dict[str, Any]:
        """A run as the API shows it, with the seed's result fields.

        `verify` false skips measuring the vital since the run (with Prometheus, one query per run):
        for pages that list many runs."""
        result = run.result
        base = self.config.actions.external_url or ""
        if run.finished_at is not None:
            eta = run.finished_at
        else:
            book = self.playbooks.get(run.playbook)
            count = len(result.get("actions") or ()) or (len(book.spec.actions) if book is not None else 1)
            eta = (run.started_at or run.created_at) + count * _ESTIMATE_SECONDS.get(run.mode, 30.0)
        expected = result.get("expectedImprovement")
        if expected is None and run.playbook in self.playbooks:
            expected = self.playbooks[run.playbook].spec.expected_improvement
        out: dict[str, Any] = {
            "id": run.id,
            "playbookId": run.playbook,
            "mode": run.mode,
            "state": run.state,
            "message": run.message,
            "executedActions": result.get("executedActions", []),
            "pendingManualActions": result.get("pendingManualActions", []),
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
            "bytesSaved": result.get("bytesSaved"),
        }
        if full:
            out["actions"] = result.get("actions", [])
            out["options"] = run.options
            out["verification"] = self.verification(run, measure=verify) if run.mode == EXECUTE else None
            out["events"] = run.events
        return out
