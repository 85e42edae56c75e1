"""Where an analytics answer reads its numbers: the exporter's own stores or Prometheus (prometheus.py), behind
the same three small protocols, so that `GET /api/performance-analytics` and `perfbudget report --source
<prometheus>` build one report with one code path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..summary import HistogramSource, SummaryService, read_histograms

Edges = tuple[float, ...]
#: vital -> (bucket edges, cumulative counts per edge with +Inf last)
Histograms = dict[str, tuple[Edges, list[float]]]


class VitalCounts(Protocol):
    """The vitals' histograms over a window."""

    def routes(self, start: float, end: float) -> list[str]:
        """Every route that may have counts in [start, end]."""

    def counts(self, start: float, end: float | None, route: str | None) -> Histograms:
        """Per vital, what arrived in [start, end] (end None: up to now) on `route` (None: every route)."""

    def steps(self, start: float, step: int, points: int, now: float) -> list[tuple[float, Histograms]]:
        """Every route's counts per window [start + i * step, its end], i < points, the last ending at `now`;
        each with its end."""


class ServiceWindows(Protocol):
    """The service's HTTP server histograms (`service_history.ServiceHistory` has this shape)."""

    def window(self, start: float, end: float) -> dict[str, dict[str, Any]]:
        """Per endpoint ("GET /api/web-vitals"): count, errors (5xx), sum_seconds, buckets (cumulative), edges."""

    def availability(self, start: float, end: float) -> dict[str, Any]:
        """{"percent": float | None, ...} over [start, end]."""


#: The fix outcomes per playbook at a time (`playbooks.outcomes.Outcomes.report`, GET /api/perf-fix/outcomes).
OutcomesSource = Callable[[float], dict[str, Any]]


class LocalVitals:
    """The summary's snapshot windows (every worker, every run) and the live slabs."""

    def __init__(self, summary: SummaryService, reader: HistogramSource, edges: Mapping[str, Edges]) -> None:
        self._summary = summary
        self._reader = reader
        self._edges = edges

    def routes(self, start: float, end: float) -> list[str]:
        found: set[str] = set()
        for by_route in read_histograms(self._reader).values():
            found |= by_route.keys()
        store = self._summary.store
        for head in store.heads(end).values():
            if head.ts >= start:  # a run with a frame in the range
                for by_route in store.frame(head).rows.values():
                    found |= by_route.keys()
        return sorted(found)

    def counts(self, start: float, end: float | None, route: str | None) -> Histograms:
        found = self._summary.window_counts(start, end, route)
        return {name: (self._edges[name], counts) for name, counts in found.items() if name in self._edges}

    def steps(self, start: float, step: int, points: int, now: float) -> list[tuple[float, Histograms]]:
        out = []
        for index in range(points):
            a = start + index * step
            b = min(now, a + step)
            out.append((b, self.counts(a, None if b >= now else b, None)))
        return out

