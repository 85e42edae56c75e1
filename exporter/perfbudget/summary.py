"""Windows over the histograms -> the `GET /api/web-vitals` answer.

The histograms are cumulative since the server started, so a window needs their value at its start. Every
worker snapshots the histograms (every worker's slabs of the shared-memory store) into SQLite once a
minute; a window's counts are "now minus the last snapshot at or before the window's start", per server
run ("epoch"), summed over the runs the window spans, like PromQL's `increase()` across counter resets.
The 75th percentile is then interpolated inside its bucket exactly as `histogram_quantile` does, so the
two agree on the same data.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from .sqlite import prepare
from .store import HistogramSeries, Labels
from .vitals import VITALS, Vital, overall_score

Series = tuple[str, str, str]  # (vital, route, device)
Counts = list[float]  # cumulative bucket counts, the last one being +Inf (= the count)

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_WINDOW = 7 * 86400
RETENTION = 15 * 86400


def parse_window(text: str) -> int:
    """'1h' -> 3600. Prometheus duration notation with one unit, at most a week."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"window {text!r} is not a duration like 30m, 1h, 6h, 1d")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not 60 <= seconds <= MAX_WINDOW:
        raise ValueError(f"window {text!r} must be between 1m and 7d")
    return seconds


def quantile(q: float, edges: tuple[float, ...], cumulative: Counts) -> float | None:
    """PromQL's `histogram_quantile`: linear interpolation inside the bucket holding rank q*count."""
    total = cumulative[-1] if cumulative else 0
    if total <= 0:
        return None
    rank = q * total
    index = next(i for i, count in enumerate(cumulative) if count >= rank)
    if index >= len(edges):  # the +Inf bucket: Prometheus answers the highest finite bound
        return edges[-1]
    upper = edges[index]
    lower = edges[index - 1] if index > 0 else 0.0
    below = cumulative[index - 1] if index > 0 else 0.0
    in_bucket = cumulative[index] - below
    if in_bucket <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / in_bucket


class HistogramSource(Protocol):
    """Where the live histograms are read: the store's Reader (every worker's slabs)."""

    def read(self, name: str, match: Mapping[str, str] | None = None) -> dict[Labels, HistogramSeries]: ...


def read_histograms(reader: HistogramSource, route: str | None = None) -> dict[Series, Counts]:
    """Cumulative bucket counts per (vital, route, device), read from the store's slabs (every worker's),
    extra labels (navigation type) summed away; only `route`'s series when given."""
    match = None if route is None else {"route": route}
    out: dict[Series, Counts] = {}
    for vital in VITALS.values():
        for labels, series in reader.read(vital.metric, match).items():
            key = (vital.name, labels[0], labels[1])
            total = out.get(key)
            out[key] = list(series.buckets) if total is None else [a + b for a, b in zip(total, series.buckets,
                                                                                         strict=True)]
    return out


class SnapshotStore:
    """Minute snapshots of the cumulative histograms in SQLite, shared by every worker of every run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        prepare(path, (
            "CREATE TABLE IF NOT EXISTS epochs (epoch TEXT PRIMARY KEY, started REAL NOT NULL)",
            "CREATE TABLE IF NOT EXISTS snapshots (epoch TEXT NOT NULL, ts INTEGER NOT NULL, "
            "vital TEXT NOT NULL, route TEXT NOT NULL, device TEXT NOT NULL, counts BLOB NOT NULL, "
            "PRIMARY KEY (epoch, ts, vital, route, device))",
        ))

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    def begin_epoch(self, epoch: str, started: float) -> None:
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO epochs VALUES (?, ?)", (epoch, started))

    def has(self, epoch: str, ts: int) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM snapshots WHERE epoch = ? AND ts = ? LIMIT 1", (epoch, ts)).fetchone() \
                is not None

    def save(self, epoch: str, ts: int, histograms: Mapping[Series, Counts], replace: bool = False) -> None:
        """Store one minute's snapshot; the first worker to store a minute wins unless `replace`."""
        rows = [(epoch, ts, *key, orjson.dumps(counts)) for key, counts in histograms.items()]
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self._connect() as db:
            db.execute("BEGIN")
            db.executemany(f"{verb} INTO snapshots VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("DELETE FROM snapshots WHERE ts < ?", (ts - RETENTION,))
            db.execute("COMMIT")

    def at(self, t: float, route: str | None) -> dict[str, dict[Series, Counts]]:
        """Per epoch that had started by `t`: its last snapshot at or before `t` (its end if it ended)."""
        query = (
            "SELECT s.epoch, s.vital, s.route, s.device, s.counts FROM snapshots s JOIN "
            "(SELECT epoch, MAX(ts) AS ts FROM snapshots WHERE ts <= ? GROUP BY epoch) last "
            "ON s.epoch = last.epoch AND s.ts = last.ts"
        )
        params: tuple[Any, ...] = (int(t),)
        if route is not None:
            query += " WHERE s.route = ?"
            params += (route,)
        out: dict[str, dict[Series, Counts]] = {}
        with self._connect() as db:
            for epoch, vital, r, device, counts in db.execute(query, params):
                out.setdefault(epoch, {})[(vital, r, device)] = orjson.loads(counts)
        return out


def _subtract(end: Counts, start: Counts | None) -> Counts:
    if start is None or len(start) != len(end):
        return list(end)
    return [max(0.0, e - s) for e, s in zip(end, start, strict=True)]


@dataclass(frozen=True)
class VitalState:
    vital: Vital
    edges: tuple[float, ...]
    counts: Counts

    @property
    def samples(self) -> int:
        return int(self.counts[-1]) if self.counts else 0

    def p(self, q: float) -> float | None:
        return quantile(q, self.edges, self.counts)

    def share_at_most(self, threshold: float) -> float | None:
        if not self.samples or threshold not in self.edges:
            return None
        return self.counts[self.edges.index(threshold)] / self.counts[-1]


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
        interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._reader = reader
        self._edges = edges
        self.store = store
        self.epoch = epoch
        self._target_for = target_for
        self._diagnose = diagnose
        self._suggest = suggest
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        store.begin_epoch(epoch, started)

    # --- snapshots ------------------------------------------------------------------------------

    def snapshot(self, now: float | None = None, final: bool = False) -> None:
        """Save this minute's histograms, once for all workers: collecting them is the costly part (every
        series of every worker), so a worker that finds the minute saved already skips it."""
        now = self._clock() if now is None else now
        ts = int(now // self._interval * self._interval)
        if not final and self.store.has(self.epoch, ts):
            return
        self.store.save(self.epoch, ts, read_histograms(self._reader), replace=final)

    def problems(self) -> list[str]:
        """Why the summary cannot answer (its snapshot store fails), for `/-/ready`; empty when it can."""
        try:
            self.store.at(self._clock(), "__readiness__")
        except Exception as exc:  # any storage failure makes us unready, with the reason
            return [f"snapshot store {self.store.path}: {exc}"]
        return []

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="perfbudget-snapshots", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
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

    def window_counts(
        self, start: float, end: float | None, route: str | None, device: str | None = None
    ) -> dict[str, Counts]:
        """Per vital, the bucket counts that arrived in [start, end] (end None = now), summed over series."""
        if end is None:
            ends = self.store.at(self._clock(), route)
            ends[self.epoch] = read_histograms(self._reader, route)
        else:
            ends = self.store.at(end, route)
        starts = self.store.at(start, route)
        totals: dict[str, Counts] = {}
        for epoch, series in ends.items():
            base = starts.get(epoch, {})
            for key, counts in series.items():
                if device is not None and key[2] != device:
                    continue
                if len(counts) != len(self._edges[key[0]]) + 1:
                    continue  # a run with other bucket edges (budgets changed): its buckets do not add up
                delta = _subtract(counts, base.get(key))
                total = totals.get(key[0])
                totals[key[0]] = delta if total is None else [a + b for a, b in zip(total, delta, strict=True)]
        return totals

    def state(self, window: int, route: str | None, now: float | None = None) -> dict[str, Any]:
        now = self._clock() if now is None else now
        current = self.window_counts(now - window, None, route)
        previous = self.window_counts(now - 2 * window, now - window, route)
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
            entry: dict[str, Any] = {
                "value": _display(vital, p75),
                "unit": vital.display_unit or "score",
                "rating": vital.rate(p75) if p75 is not None else None,
                "target": _display(vital, target),
                "samples": state.samples,
                "goodShare": _round(state.share_at_most(vital.good)),
                "poorShare": _complement(state.share_at_most(vital.poor)),
                "withinTarget": _round(state.share_at_most(target)),
                "previous": _display(vital, prev),
                "trend": _trend(p75, prev),
            }
            if self._diagnose is not None:
                entry["diagnosis"] = self._diagnose(name, route)
            if self._suggest is not None and p75 is not None and p75 > target:
                entry["suggestedFix"] = self._suggest(name)
            metrics[name] = entry
            if p75 is not None:
                p75s[name] = p75
                if entry["rating"] == "poor":
                    critical.append({
                        "metric": name,
                        "value": entry["value"],
                        "target": entry["target"],
                        "message": f"{name} p75 is {entry['value']:g}{vital.display_unit} on "
                        f"{route or 'all routes'}, poor (over {_display(vital, vital.poor):g}{vital.display_unit})",
                    })
        return {
            "window": window,
            "page": route,
            "metrics": metrics,
            "overallScore": overall_score(p75s),
            "criticalIssues": critical,
        }


def _display(vital: Vital, value: float | None) -> float | None:
    if value is None:
        return None
    shown = vital.to_display(value)
    return round(shown, 4) if not vital.ms else round(shown, 1)


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


def totals_by_series(histograms: Iterable[tuple[Series, Counts]]) -> dict[str, float]:
    """Observations per vital (used by readiness and the console)."""
    out: dict[str, float] = {}
    for (vital, _, _), counts in histograms:
        out[vital] = out.get(vital, 0.0) + (counts[-1] if counts else 0.0)
    return out
