"""Windows over the histograms -> the `GET /api/web-vitals` answer.

The histograms are cumulative since the server started, so a window needs their value at its start. Once a
minute one worker snapshots the histograms (every worker's slabs of the shared-memory store, per vital and
route) into SQLite (snapshots.py: compact frames, thinned with age); a window's counts are "now minus the
last snapshot at or before the window's start", per server run ("epoch"), summed over the runs the window
spans, like PromQL's `increase()` across counter resets. Answers are cached for every worker a few seconds
(answer_cache.py) while no report arrives, about a second while reports do.
The 75th percentile is then interpolated inside its bucket exactly as `histogram_quantile` does, so the
two agree on the same data. The vitals a device budget names are also counted per device (`device_key`),
for the per-device budget verdicts (`devices`) over the same windows. LCP's subparts and INP's phases are in
the frames too, per route: each one's `breakdown` at p75 covers its vital's window, and its dominant part
chooses the suggested fix (summary_breakdown.py).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping
from itertools import accumulate
from operator import add
from typing import Any, Protocol, cast

import orjson

from .answer_cache import AnswerCache
from .devices import DEVICES
from .label_counts import Filter, filter_key, matched_counts
from .snapshots import Frame, Rows, SnapshotStore
from .store import Labels
from .subparts import BREAKDOWNS
from .summary_breakdown import PART_EDGES, SINCE_START, breakdown, matched_parts, part_fix, read_parts
from .summary_contract import (
    BudgetRule,
    budget_view,
    budgets_met,
    contract_vital,
    critical_issue,
    device_issues,
    device_verdict,
    last_checked,
    range_text,
    within_budget,
)
from .summary_contract import display as _display
from .summary_quantiles import MIN_SAMPLES, Counts, VitalState, parse_window, quantile, quantile_bucket
from .vitals import VITALS, Vital, overall_score

# The percentile math lives in summary_quantiles.py; its names stay importable from here, where readers of the
# summary have always found them.
__all__ = ["MIN_SAMPLES", "Counts", "HistogramSource", "SummaryService", "VitalState", "device_key", "parse_window",
           "quantile", "quantile_bucket", "read_histograms"]
ACCEPTED = "perfbudget_reports_accepted_total"


class HistogramSource(Protocol):
    """Where the live histograms are read: the store's Reader (every worker's slabs)."""

    def rows(self, name: str, match: Mapping[str, str] | None = None) -> dict[Labels, list[float]]: ...

    def sums(self, name: str, label: str) -> dict[str, list[float]]: ...


def device_key(vital: str, device: str) -> str:
    """The frames' key of one vital on one device ("LCP@phone"), beside the vitals' own keys."""
    return f"{vital}@{device}"


def read_histograms(reader: HistogramSource, device_vitals: Collection[str] = ()) -> Rows:
    """Per vital and route, the counts per bucket (not cumulative, +Inf last) from the store's slabs (every
    worker's), devices and extra labels (navigation type) summed away; for each of `device_vitals` (those a
    device budget names) also per device, under `device_key`."""
    out: Rows = {}
    for vital in VITALS.values():
        if vital.name in device_vitals:
            _by_route_and_device(reader, vital.name, vital.metric, out)
            continue
        per_route = reader.sums(vital.metric, "route")  # fresh lists: trimmed in place, not copied
        for row in per_route.values():
            row.pop()  # the sum of the observations; the counts before it are exact integers
        if per_route:
            out[vital.name] = cast(dict[str, list[int]], per_route)
    return out


def _by_route_and_device(reader: HistogramSource, name: str, metric: str, out: Rows) -> None:
    """One read of `metric`'s series (labels route, device[, navigation type]) summed per route and per
    (device, route)."""
    per_route: dict[str, list[int]] = {}
    for labels, row in reader.rows(metric).items():
        counts = cast(list[int], row[:-1])  # the sum of the observations dropped
        for target, route in ((per_route, labels[0]), (out.setdefault(device_key(name, labels[1]), {}), labels[0])):
            acc = target.get(route)
            target[route] = counts if acc is None else list(map(add, acc, counts))
    if per_route:
        out[name] = per_route


def _cumulative(counts: list[int]) -> Counts:
    return list(map(float, accumulate(counts)))


class WindowSource(Protocol):
    """Window counts from elsewhere than this exporter's frames (prometheus_windows.PrometheusWindows); raises a
    RuntimeError when it cannot answer."""

    url: str

    def window_counts(self, start: float, end: float, route: str | None) -> dict[str, Counts]: ...


class SummaryService:
    def __init__(
        self,
        reader: HistogramSource,
        edges: Mapping[str, tuple[float, ...]],
        store: SnapshotStore,
        epoch: str,
        started: float,
        target_for: Callable[[str, str | None, str | None], float | None] | None = None,
        diagnose: Callable[[str, str | None], dict[str, Any]] | None = None,
        suggest: Callable[[str], dict[str, Any] | None] | None = None,
        budget_for: Callable[[str, str | None, str | None], BudgetRule | None] | None = None,
        page_url: Callable[[str], str | None] | None = None,
        device_vitals: Collection[str] = (),
        interval: float = 60.0,
        clock: Callable[[], float] = time.time,
        cache: AnswerCache | None = None,
        windows: WindowSource | None = None,
    ) -> None:
        self._clock = clock
        # The windows of every replica (prometheus_windows.py) instead of this exporter's frames, when set.
        self._windows = windows
        self._windows_problem: str | None = None
        self._reader = reader
        self._edges = edges
        self.store = store
        self.epoch = epoch
        self._target_for = target_for
        self._diagnose = diagnose
        self._suggest = suggest
        self._budget_for = budget_for
        self._page_url = page_url
        # The vitals a device budget names are also kept per device (frames' keys `device_key`), with the
        # same edges: a run recorded without them has none in its ladder, so its frames never count for them.
        self._device_vitals = frozenset(name for name in device_vitals if name in edges)
        self._series_edges = {**edges, **{device_key(name, device): edges[name]
                                          for name in sorted(self._device_vitals) for device in DEVICES},
                              **PART_EDGES}  # LCP's subparts and INP's phases (summary_breakdown.py)
        self._interval = interval
        self._cache = cache if cache is not None else AnswerCache(None, 0, clock)
        self._live: tuple[float, int, Frame] | None = None
        self._live_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        store.begin_epoch(epoch, started, self._series_edges)

    # --- snapshots ------------------------------------------------------------------------------

    def snapshot(self, now: float | None = None, final: bool = False) -> None:
        """Save this minute's histograms, once for all workers: a worker that finds the minute saved
        already skips reading the slabs."""
        now = self._clock() if now is None else now
        ts = int(now // self._interval * self._interval)
        if not final and self.store.has(self.epoch, ts):
            return
        self.store.save(self.epoch, ts, self._read(), replace=final)

    def _read(self) -> Rows:
        """The frames' rows: the vitals per route (and device, for device budgets), and the parts of LCP and INP."""
        rows = read_histograms(self._reader, self._device_vitals)
        read_parts(self._reader, rows)
        return rows

    def problems(self) -> list[str]:
        """Why the summary cannot answer (its snapshot store fails), for `/-/ready`; empty when it can."""
        try:
            self.store.check()
        except Exception as exc:  # any storage failure makes us unready, with the reason
            return [f"snapshot store {self.store.path}: {exc}"]
        return []

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="perfbudget-snapshots", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        try:
            self.store.drop_legacy()
        except sqlite3.Error:
            pass  # busy: the next start drops it
        while True:
            try:
                self.snapshot()
            except sqlite3.Error:
                pass  # a locked or full database skips one snapshot; windows stay correct, only coarser
            if self._stop.wait(self._interval):
                return

    def close(self) -> None:
        self._stop.set()
        try:
            self.snapshot(final=True)  # the last minute of this run, so a restart does not lose it
        except sqlite3.Error:
            pass

    # --- windows --------------------------------------------------------------------------------

    def _live_frame(self) -> Frame:
        """The slabs as they are now. One read serves the windows asked within a second while no report
        arrives (the count of accepted reports is read first, so a frame holds at least what it counted)."""
        now = time.monotonic()
        generation = self.generation()
        with self._live_lock:
            live = self._live
            if live is not None and live[1] == generation >= 0 and now - live[0] < 1.0:
                return live[2]
            frame = Frame(self._read())
            self._live = (now, generation, frame)
            return frame

    def window_counts(self, start: float, end: float | None, route: str | None) -> dict[str, Counts]:
        """Per vital, the cumulative bucket counts that arrived in [start, end] (end None = now), summed over
        series (every route when `route` is None); the vitals a device budget names also per device, under
        `device_key`."""
        if self._windows is not None:
            try:
                remote = self._windows.window_counts(start, self._clock() if end is None else end, route)
                self._windows_problem = None
                return remote
            except RuntimeError as exc:  # Prometheus cannot answer: this exporter's own counts, and the answer says so
                self._windows_problem = str(exc)
        ends = self.store.heads(self._clock() if end is None else end)
        starts = self.store.heads(start)
        totals: dict[str, list[int]] = {}
        epochs = set(ends) | ({self.epoch} if end is None else set())
        ladders = self.store.ladders(epochs)
        for epoch in epochs:
            ladder = ladders.get(epoch)
            base_head = starts.get(epoch)
            if end is None and epoch == self.epoch:
                now = self._live_frame().on(route)
            else:
                head = ends.get(epoch)
                if head is None or head == base_head:
                    continue  # nothing of this run between start and end
                now = self.store.on(head, route)
            then = self.store.on(base_head, route) if base_head is not None else {}
            for name, vital_edges in self._series_edges.items():
                counts = now.get(name)
                if counts is None or len(counts) != len(vital_edges) + 1 or (
                        ladder is not None and ladder.get(name) != vital_edges):
                    continue  # a run with other bucket edges (budgets or the ladder changed): they do not add up
                old = then.get(name)
                if old is not None and len(old) == len(counts):
                    counts = [max(0, e - s) for e, s in zip(counts, old, strict=True)]
                total = totals.get(name)
                totals[name] = counts if total is None else list(map(add, total, counts))
        return {name: _cumulative(counts) for name, counts in totals.items()}

    def generation(self) -> int:
        """Reports accepted so far by every worker: an answer computed at the same count is still exact (-1,
        unknown, when the windows come from Prometheus: other replicas' reports change them too)."""
        if self._windows is not None:
            return -1
        try:
            return int(sum(row[0] for row in self._reader.rows(ACCEPTED).values()))
        except (KeyError, ValueError):  # a reader without the family: every answer may be stale
            return -1

    def answer(self, window: int, route: str | None, match: Filter = None) -> tuple[bytes, bool]:
        """`state(window, route)` as JSON, and whether it came from the answers cached for every worker."""
        return self._cache.get(f"{self.epoch}|{window}|{route!r}{filter_key(match)}", self.generation(),
                               lambda: orjson.dumps(self._compute(window, route, self._clock(), match)))

    def state(self, window: int, route: str | None, now: float | None = None, match: Filter = None) -> dict[str, Any]:
        """The summary of `window` seconds up to `now` on `route` (every route when None), filtered by `match`
        (label_counts.py); without `now`, the answer shared by the workers (`answer`), as the console shows it."""
        if now is None:
            answer: dict[str, Any] = orjson.loads(self.answer(window, route, match)[0])
            return answer
        return self._compute(window, route, now, match)

    def _compute(self, window: int, route: str | None, now: float, match: Filter = None) -> dict[str, Any]:
        current, previous = (matched_counts(self._reader, match, route, self._device_vitals, device_key), {}) if match \
        else (self.window_counts(now - window, None, route), self.window_counts(now - 2 * window, now - window, route))
        if match:  # the parts since start too, when the filter is one of their labels (site), else none
            current.update(matched_parts(self._reader, match, route) or {})
        metrics: dict[str, Any] = {}
        p75s: dict[str, float] = {}
        critical = []
        for name, vital in VITALS.items():
            edges = self._edges[name]
            state = VitalState(vital, edges, current.get(name, []))
            before = VitalState(vital, edges, previous.get(name, []))
            p75 = state.p(0.75)
            prev = before.p(0.75)
            target = self._target_for(name, route, None) if self._target_for else None
            target = vital.good if target is None else target
            budget = self._budget_for(name, route, None) if self._budget_for else None
            within = within_budget(state.p(budget.percentile / 100) if budget is not None else None, budget)
            entry: dict[str, Any] = {
                "value": _display(vital, p75),
                "unit": vital.display_unit or "score",
                "rating": vital.rate(p75) if p75 is not None else None,
                "target": _display(vital, target),
                "budget": budget_view(vital, budget),
                "withinBudget": within,
                "samples": state.samples,
                "goodShare": _round(state.share_at_most(vital.good)),
                "poorShare": _complement(state.share_at_most(vital.poor)),
                "withinTarget": _round(state.share_at_most(target)),
                "previous": _display(vital, prev),
                "trend": _trend(p75, prev),
                **self._confidence(state, budget),
            }
            entry["devices"] = self._devices(vital, route, current, budget)
            broken = within is False or any(d["ownBudget"] and d["withinBudget"] is False for d in entry["devices"])
            if self._diagnose is not None:
                entry["diagnosis"] = self._diagnose(name, route)
            parts = breakdown(name, current, SINCE_START if match else "window")
            if name in BREAKDOWNS:
                entry["breakdown"] = parts
            if self._suggest is not None and p75 is not None and (p75 > target or broken):
                # The dominant part of the breakdown chooses the playbook (summary_breakdown.PART_FIXES).
                fix = part_fix(name, parts, self._suggest, entry.get("diagnosis")) if parts is not None else None
                entry["suggestedFix"] = fix if fix is not None else self._suggest(name)
            metrics[name] = entry
            if p75 is not None:
                p75s[name] = p75
            issue = critical_issue(vital, entry, route)
            critical += ([issue] if issue is not None else []) + device_issues(vital, entry, route)
        page_url, reason = self._page(route)
        return {
            "window": window,
            "page": route,
            "vitals": [contract_vital(VITALS[name], entry, route, page_url, reason)
                       for name, entry in metrics.items()],
            "metrics": metrics,
            "overallScore": overall_score(p75s),
            "criticalIssues": len(critical),
            "criticalIssueList": critical,
            "budgetsMet": budgets_met(metrics),
            "lastChecked": last_checked(now),
            "source": self._source(match),
        }

    def _source(self, match: Filter) -> dict[str, Any]:
        """Where the answer's counts come from: Prometheus (every replica) or this exporter alone."""
        covers = "the beacons this exporter received"
        if self.store.database.kind != "sqlite" and not match:  # the frames every replica writes to the database
            covers = "every replica's minute frames in the shared database (the others' up to a minute late)"
        if self._windows is None or match:
            return {"kind": "local", "covers": covers}
        if self._windows_problem is not None:
            return {"kind": "local", "covers": covers,
                    "problem": f"Prometheus did not answer, so the exporter's own counts: {self._windows_problem}"}
        return {"kind": "prometheus", "url": self._windows.url, "covers": "every replica Prometheus scrapes"}

    def _devices(self, vital: Vital, route: str | None, current: Mapping[str, Counts],
                 shared: BudgetRule | None) -> list[dict[str, Any]]:
        """Per device with page loads or a budget of its own, the verdict of the budget that applies on it."""
        if vital.name not in self._device_vitals:
            return []
        out = []
        for device in DEVICES:
            state = VitalState(vital, self._edges[vital.name], current.get(device_key(vital.name, device), []))
            budget = self._budget_for(vital.name, route, device) if self._budget_for else None
            own = budget is not None and budget is not shared
            if state.samples or own:
                at = state.p(budget.percentile / 100) if budget is not None else None
                out.append(device_verdict(vital, device, state.p(0.75), at, state.samples, budget, own))
        return out

    def _page(self, route: str | None) -> tuple[str | None, str | None]:
        """The `pageUrl` of `route` and, when there is none, why (`pageUrlReason`)."""
        if route is None:
            return None, "the summary covers every route: ask for one page (?page=) to get a URL of its route"
        if self._page_url is None:
            return None, "no page URLs are kept (the summary has no attribution store)"
        url = self._page_url(route)
        if url is None:
            return None, (f"no accepted beacon for {route} has reported a page URL on the site's origins yet "
                          "(beacons.allowed_origins, or the Origin of the page that sent it)")
        return url, None

    @staticmethod
    def _confidence(state: VitalState, budget: BudgetRule | None) -> dict[str, Any]:
        """How far the p75 can be trusted: "low" under the applying budget's `min_samples`, the bucket it
        falls in (the display unit; upper null for the +Inf bucket) and the same in words for people."""
        minimum = MIN_SAMPLES if budget is None else budget.min_samples
        bucket = quantile_bucket(0.75, state.edges, state.counts)
        if bucket is None:
            return {"confidence": None, "minSamples": minimum, "range": None, "rangeText": None}
        lower, upper = bucket
        return {
            "confidence": "low" if state.samples < minimum else "high",
            "minSamples": minimum,
            "range": [_edge(state.vital, lower), None if upper is None else _edge(state.vital, upper)],
            "rangeText": range_text(state.vital, lower, upper, state.samples),
        }


def _edge(vital: Vital, edge: float) -> float:
    """A bucket edge in the display unit, as exact as the edge (CLS edges have 3 significant digits)."""
    return round(vital.to_display(edge), 6)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _complement(value: float | None) -> float | None:
    return None if value is None else round(1 - value, 4)


def _trend(current: float | None, previous: float | None) -> str:
    if current is None or previous is None or previous == 0:
        return "unknown"
    change = (current - previous) / previous
    if abs(change) < 0.05:
        return "stable"
    return "improving" if change < 0 else "degrading"
