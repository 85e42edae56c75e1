"""Fix outcomes per playbook: runs, executions, success rate, time to resolution, before and after, ROI.

Everything comes from the audit log (store.py) and the exporter's own histograms through the summary's
window API (`SummaryService.window_counts`), so the figures are the ones GET /api/web-vitals would give for
the same windows:

- an execute *succeeded* when, within the verification window after it (verify.VERIFY_WINDOW, an hour), the
  targeted vital on its route got within the budget that applies (its percentile at or under its target,
  with at least the budget's `min_samples` page loads) and ended better than in the hour before it. The
  success rate is succeeded over every execute that ran (failed and rolled-back ones included);
- *before and after*: the p75 and good share over `window` (a week by default) before the execute started
  and after it finished. The after window grows until it is as long as the before one (`complete`); each
  side needs the budget's minimum samples, else it says "not enough data";
- *time to resolution*: the alert's startsAt to its resolution (Alertmanager's endsAt, else when the
  resolution arrived), for alerts an execute ran for and for those a person fixed by hand (only a dry run
  ran for them);
- *ROI*: good-share points gained x page views a day on the route ("+12 points on 40,000 views a day =
  4,800 more good loads a day"), over the latest execute per route that has enough data on both sides.

Before/after, page views and ROI are measured for the newest SHOWN executes of each playbook (a few
milliseconds of window reads each); counts, success rate and bytes saved cover every execute.

Once its verification window has passed, an execute's verdict is stored (`Store.settle`, once across
processes) and counted in perfbudget_playbook_outcomes_total (outcome_metrics.py).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..summary import MIN_SAMPLES, SummaryService, VitalState
from ..summary_contract import BudgetRule
from ..vitals import VITALS, Vital
from .model import Playbooks
from .outcome_text import bytes_text, playbook_sentence, roi_text, window_text
from .records import EXECUTE, FAILED, INTERRUPTED, ROLLED_BACK, Run, iso
from .store import Store
from .verify import VERIFY_WINDOW

WEEK = 7 * 86400
#: Executions listed and measured per playbook (newest first); the counts and bytes cover them all.
SHOWN = 20
DAY = 86400.0

IMPROVED, NOT_IMPROVED, NOT_ENOUGH, WAITING = "improved", "not improved", "not enough data", "waiting"
FAILED_OUTCOME, ROLLED_BACK_OUTCOME, UNMEASURED = "failed", "rolled back", "unmeasured"
#: Every verdict, as the API says it and as the outcome counter labels it.
OUTCOMES = {IMPROVED: "improved", NOT_IMPROVED: "not_improved", NOT_ENOUGH: "not_enough_data", WAITING: "waiting",
            FAILED_OUTCOME: "failed", ROLLED_BACK_OUTCOME: "rolled_back", UNMEASURED: "unmeasured"}
_KEYS = {IMPROVED: "improved", NOT_IMPROVED: "notImproved", NOT_ENOUGH: "notEnoughData", WAITING: "waiting",
         FAILED_OUTCOME: "failed", ROLLED_BACK_OUTCOME: "rolledBack", UNMEASURED: "unmeasured"}

BudgetFor = Callable[[str, str | None, str | None], BudgetRule | None]


@dataclass(frozen=True)
class Rule:
    """What a vital is held to on a route: the budget that applies, else Google's "good" at p75."""

    target: float  # base unit
    percentile: float
    min_samples: int
    name: str | None


@dataclass(frozen=True)
class Figures:
    """One window of one vital on one route."""

    vital: Vital
    rule: Rule
    start: float
    end: float
    state: VitalState
    page_views: int  # page loads that reported any vital on the route

    @property
    def samples(self) -> int:
        return self.state.samples

    @property
    def enough(self) -> bool:
        return self.samples > 0 and self.samples >= self.rule.min_samples

    @property
    def p75(self) -> float | None:
        return self.state.p(0.75)

    @property
    def at_budget(self) -> float | None:
        """The vital at the budget's percentile (base unit)."""
        return self.state.p(self.rule.percentile / 100)

    @property
    def good_share(self) -> float | None:
        return self.state.share_at_most(self.vital.good)

    @property
    def within(self) -> bool | None:
        value = self.at_budget
        return None if value is None or not self.enough else value <= self.rule.target

    def to_json(self) -> dict[str, Any]:
        p75, good = self.p75, self.good_share
        return {
            "from": iso(self.start), "to": iso(self.end),
            "p75": None if p75 is None else round(self.vital.to_display(p75), 4 if not self.vital.ms else 1),
            "unit": self.vital.display_unit or "score",
            "goodShare": None if good is None else round(good, 4),
            "samples": self.samples, "minSamples": self.rule.min_samples, "enoughData": self.enough,
            "pageViews": self.page_views,
            "text": window_text(self.vital, p75, good, self.samples, self.rule.min_samples),
        }


@dataclass(frozen=True)
class Verdict:
    outcome: str
    final: bool  # the verification window has passed (or the run failed): it will not change


class Outcomes:
    """The fix outcomes of an app's playbooks; `report` is GET /api/perf-fix/outcomes's data."""

    def __init__(self, store: Store, summary: SummaryService, playbooks: Playbooks, budget_for: BudgetFor,
                 edges: Mapping[str, tuple[float, ...]], clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._summary = summary
        self._playbooks = playbooks
        self._budget_for = budget_for
        self._edges = edges
        self._clock = clock

    def version(self) -> tuple[int, int]:
        """What a report depends on that can change: the audit log's and the histograms' generations."""
        return self.store.version(), self._summary.generation()

    def playbook_ids(self) -> set[str]:
        """The loaded playbooks and those the audit log has runs of (a playbook removed since keeps its history)."""
        return set(self._playbooks) | set(self.store.tallies())

    # --- figures --------------------------------------------------------------------------------

    def vital_of(self, run: Run) -> str | None:
        """The Web Vital the run's playbook targets: as recorded with the run, else as the playbook says."""
        book = self._playbooks.get(run.playbook)
        metrics = run.result.metric or (list(book.spec.metric) if book is not None else [])
        return next((m for m in metrics if m in VITALS), None)

    def rule(self, metric: str, route: str | None) -> Rule:
        budget = self._budget_for(metric, route, None)
        if budget is None:
            return Rule(VITALS[metric].good, 75.0, MIN_SAMPLES, None)
        return Rule(budget.target, budget.percentile, budget.min_samples, budget.budget_name)

    def figures(self, metric: str, route: str | None, start: float, end: float, now: float) -> Figures:
        """The vital over [start, end] on `route` (every route when None); an end at or past now reads live."""
        counts = self._summary.window_counts(start, None if end >= now else end, route)
        vital = VITALS[metric]
        state = VitalState(vital, self._edges[metric], counts.get(metric, []))
        views = max((int(c[-1]) for c in counts.values() if c), default=0)
        return Figures(vital, self.rule(metric, route), start, min(end, now), state, views)

    def verdict(self, run: Run, now: float) -> Verdict:
        """Did the execute get its vital within budget in the verification window after it?"""
        if run.state in (FAILED, INTERRUPTED):
            return Verdict(FAILED_OUTCOME, True)
        if run.state == ROLLED_BACK:
            return Verdict(ROLLED_BACK_OUTCOME, True)
        if run.outcome:  # settled once its window passed: the stored verdict
            return Verdict(run.outcome, True)
        metric = self.vital_of(run)
        if metric is None:
            return Verdict(UNMEASURED, True)
        started = run.started_at or run.created_at
        finished = run.finished_at or started
        final = now >= finished + VERIFY_WINDOW
        after = self.figures(metric, run.route, finished, finished + VERIFY_WINDOW, now)
        if not after.enough:
            return Verdict(NOT_ENOUGH if final else WAITING, final)
        before = self.figures(metric, run.route, started - VERIFY_WINDOW, started, now)
        better = not before.enough or (before.at_budget or 0.0) > (after.at_budget or 0.0)
        return Verdict(IMPROVED if after.within and better else NOT_IMPROVED, final)

    def execution(self, run: Run, window: int, now: float, *, measure: bool = True) -> dict[str, Any]:
        """One execute: its verdict, its before and after over `window` (unless `measure` is false), its ROI
        and bytes saved."""
        verdict = self.verdict(run, now)
        started = run.started_at or run.created_at
        finished = run.finished_at or started
        metric = self.vital_of(run)
        out: dict[str, Any] = {
            "runId": run.id, "route": run.route, "metric": metric, "state": run.state,
            "executedAt": iso(started), "finishedAt": iso(run.finished_at),
            "outcome": verdict.outcome, "final": verdict.final,
            "before": None, "after": None, "complete": now >= finished + window,
            "goodSharePoints": None, "pageViewsPerDay": None, "moreGoodLoadsPerDay": None,
            "bytesSaved": bytes_saved(run), "resolutionSeconds": _rounded(run.resolution_seconds),
        }
        if metric is None or not measure:
            return out
        before = self.figures(metric, run.route, started - window, started, now)
        after = self.figures(metric, run.route, finished, finished + window, now)
        out["before"], out["after"] = before.to_json(), after.to_json()
        out["pageViewsAffected"] = after.page_views
        if before.enough and after.enough and before.good_share is not None and after.good_share is not None:
            points = (after.good_share - before.good_share) * 100
            days = max(after.end - after.start, 60.0) / DAY  # at least a minute: no division by a blink
            per_day = after.page_views / days
            out["goodSharePoints"] = round(points, 1)
            out["pageViewsPerDay"] = round(per_day, 1)
            out["moreGoodLoadsPerDay"] = round(points / 100 * per_day, 1)
        return out

    # --- the report -----------------------------------------------------------------------------

    def report(self, playbook: str | None = None, window: int = WEEK, now: float | None = None) -> dict[str, Any]:
        """Every playbook's outcomes (or `playbook`'s), in the API's camelCase."""
        now = self._clock() if now is None else now
        tallies = self.store.tallies(playbook)
        executes: dict[str, list[Run]] = {}
        for run in self.store.executions(playbook):
            executes.setdefault(run.playbook, []).append(run)
        resolved: dict[str, list[Run]] = {}
        for run in self.store.resolved_runs(playbook):
            resolved.setdefault(run.playbook, []).append(run)
        ids = [playbook] if playbook is not None else sorted(set(self._playbooks) | set(tallies))
        books = [self._playbook(pid, tallies.get(pid, {}), executes.get(pid, []), resolved.get(pid, []), window, now)
                 for pid in ids]
        executions = sum(b["executions"] for b in books)
        succeeded = sum(b["succeeded"] for b in books)
        return {
            "window": window, "verificationWindow": VERIFY_WINDOW, "generatedAt": iso(now),
            "playbooks": books,
            "totals": {
                "runs": sum(b["runs"] for b in books), "executions": executions, "succeeded": succeeded,
                "successRate": round(succeeded / executions, 4) if executions else None,
                "bytesSaved": sum(b["bytesSaved"] for b in books),
                "pageViewsAffected": sum(b["pageViewsAffected"] for b in books),
                "moreGoodLoadsPerDay": round(sum((b["roi"] or {}).get("moreGoodLoadsPerDay", 0.0) for b in books), 1),
            },
        }

    def _playbook(self, playbook: str, tally: dict[str, int], executes: list[Run], resolved: list[Run],
                  window: int, now: float) -> dict[str, Any]:
        book = self._playbooks.get(playbook)
        # Window reads cost a few milliseconds per execute: the newest SHOWN have them (before/after, page
        # views, ROI); the verdicts (stored once settled) and bytes of all count.
        rows = [self.execution(run, window, now, measure=index < SHOWN) for index, run in enumerate(executes)]
        counts = dict.fromkeys(_KEYS.values(), 0)
        for row in rows:
            counts[_KEYS[row["outcome"]]] += 1
        succeeded = counts["improved"]
        latest = next((row for row in rows if row["before"] is not None), None)
        roi = _roi(rows)
        bytes_total = sum(row["bytesSaved"] for row in rows if row["state"] != ROLLED_BACK)
        out: dict[str, Any] = {
            "playbookId": playbook,
            "name": book.spec.name if book is not None else None,
            "metric": next((m for m in book.spec.metric if m in VITALS), None) if book is not None else None,
            "runs": sum(tally.values()),
            "dryRuns": sum(n for mode, n in tally.items() if mode != EXECUTE),
            "executions": len(rows),
            "succeeded": succeeded,
            "successRate": round(succeeded / len(rows), 4) if rows else None,
            "outcomes": counts,
            "timeToResolution": {
                "executed": _durations([r.resolution_seconds for r in resolved if r.mode == EXECUTE]),
                "byHand": _durations([r.resolution_seconds for r in resolved if r.mode != EXECUTE]),
            },
            "before": latest["before"] if latest else None,
            "after": latest["after"] if latest else None,
            "route": latest["route"] if latest else None,
            "pageViewsAffected": sum(row.get("pageViewsAffected", 0) for row in rows),
            "bytesSaved": bytes_total,
            "bytesSavedText": bytes_text(bytes_total),
            "roi": roi,
            "executionsShown": min(len(rows), SHOWN),
            "executionsList": rows[:SHOWN],
        }
        out["summary"] = playbook_sentence(out)
        return out

    # --- settling -------------------------------------------------------------------------------

    def settle(self, now: float | None = None) -> list[tuple[str, str]]:
        """Store the verdict of every execute whose verification window has passed (or that failed); returns
        (playbook, outcome label) for each one this call settled (another process may settle the rest)."""
        now = self._clock() if now is None else now
        settled: list[tuple[str, str]] = []
        for run in self.store.executions(unsettled=True):
            verdict = self.verdict(run, now)
            if verdict.final and self.store.settle(run.id, verdict.outcome):
                settled.append((run.playbook, OUTCOMES[verdict.outcome]))
        return settled


def bytes_saved(run: Run) -> int:
    """What the run's applied actions saved, from their real results (previews are not savings)."""
    return sum(action.bytes_saved or 0 for action in run.result.executed_actions)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _durations(values: list[float | None]) -> dict[str, Any]:
    known = [v for v in values if v is not None]
    if not known:
        return {"count": 0, "medianSeconds": None, "meanSeconds": None, "maxSeconds": None}
    return {"count": len(known), "medianSeconds": round(statistics.median(known), 1),
            "meanSeconds": round(statistics.fmean(known), 1), "maxSeconds": round(max(known), 1)}


def _roi(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Good-share points x views a day, over the latest execute per route with enough data on both sides."""
    latest: dict[str | None, dict[str, Any]] = {}
    for row in rows:  # newest first
        if row["goodSharePoints"] is not None and row["route"] not in latest:
            latest[row["route"]] = row
    if not latest:
        return None
    views = sum(row["pageViewsPerDay"] for row in latest.values())
    more = sum(row["moreGoodLoadsPerDay"] for row in latest.values())
    points = more / views * 100 if views else 0.0
    return {"goodSharePoints": round(points, 1), "pageViewsPerDay": round(views, 1),
            "moreGoodLoadsPerDay": round(more, 1), "routes": len(latest), "text": roi_text(points, views, more)}
