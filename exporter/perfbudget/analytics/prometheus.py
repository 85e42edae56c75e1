"""Prometheus as an analytics source (`perfbudget report --source <prometheus>`): the perfbudget vitals
histograms and the HTTP server histograms over PromQL, in the shapes of sources.py, so the report is built
by the same code as the exporter's own answer.

A window [start, end] is `increase(...[end - start])` evaluated at `end`, summed by `le` (and by route or
endpoint); the series are one `query_range` per vital with the step as the increase's range. Prometheus
extrapolates increases to the window's edges, so counts are not whole numbers: p75 and good shares come out
as `histogram_quantile` would give them on the same data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..promql import Progress, PrometheusClient, PrometheusError, is_prometheus, matchers, seconds
from ..vitals import VITALS
from .sources import Histograms

__all__ = [
    "Progress",
    "PrometheusClient",
    "PrometheusError",
    "PrometheusService",
    "PrometheusVitals",
    "is_prometheus",
]
DURATION = "http_server_request_duration_seconds"


def _histogram(buckets: Mapping[str, float]) -> tuple[tuple[float, ...], list[float]]:
    """{le: count} -> (finite edges, cumulative counts with +Inf last), made monotonic (extrapolated
    increases of neighbouring buckets can cross by a hair)."""
    finite = sorted((float(le), count) for le, count in buckets.items() if le != "+Inf")
    counts = [count for _, count in finite] + [buckets.get("+Inf", finite[-1][1] if finite else 0.0)]
    running, out = 0.0, []
    for count in counts:
        running = max(running, count if math.isfinite(count) else 0.0)
        out.append(running)
    return tuple(edge for edge, _ in finite), out


class PrometheusVitals:
    """sources.VitalCounts over the perfbudget histograms in Prometheus."""

    def __init__(self, client: PrometheusClient, now: float) -> None:
        self._client = client
        self._now = now
        self._windows: dict[tuple[float, float], dict[str | None, Histograms]] = {}

    def _window(self, start: float, end: float | None) -> dict[str | None, Histograms]:
        end = self._now if end is None else end
        key = (round(start, 3), round(end, 3))
        if key not in self._windows:
            by_route: dict[str | None, dict[str, dict[str, float]]] = {}
            for name, vital in VITALS.items():
                rows = self._client.query(
                    f"sum by (route, le) (increase({vital.metric}_bucket[{seconds(end - start)}]))", end)
                for row in rows:
                    le, route, value = row["metric"].get("le"), row["metric"].get("route", ""), float(row["value"][1])
                    if le is None:
                        continue
                    for where in (route, None):
                        buckets = by_route.setdefault(where, {}).setdefault(name, {})
                        buckets[le] = buckets.get(le, 0.0) + value
            self._windows[key] = {where: {name: _histogram(b) for name, b in vitals.items()}
                                  for where, vitals in by_route.items()}
        return self._windows[key]

    def routes(self, start: float, end: float) -> list[str]:
        return sorted(route for route in self._window(start, end) if route is not None)

    def counts(self, start: float, end: float | None, route: str | None) -> Histograms:
        return self._window(start, end).get(route, {})

    def steps(self, start: float, step: int, points: int, now: float) -> list[tuple[float, Histograms]]:
        ends = [min(now, start + (index + 1) * step) for index in range(points)]
        out: list[tuple[float, Histograms]] = [(end, {}) for end in ends]
        by_end = {round(end, 3): histograms for end, histograms in out}
        for name, vital in VITALS.items():
            per_t: dict[float, dict[str, float]] = {}
            for row in self._client.query_range(f"sum by (le) (increase({vital.metric}_bucket[{step}s]))",
                                                ends[0], ends[-1], step):
                le = row["metric"].get("le")
                for t, value in row["values"]:
                    if le is not None:
                        per_t.setdefault(round(float(t), 3), {})[le] = float(value)
            for t, buckets in per_t.items():
                if t in by_end:
                    by_end[t][name] = _histogram(buckets)
        return out


class PrometheusService:
    """sources.ServiceWindows over OpenTelemetry's HTTP server histogram (and `up`) in Prometheus."""

    def __init__(self, client: PrometheusClient, selector: Mapping[str, str], now: float) -> None:
        self._client = client
        self._match = matchers(selector)
        self._now = now

    def window(self, start: float, end: float) -> dict[str, dict[str, Any]]:
        end, span = min(end, self._now), seconds(end - start)
        by = "http_request_method, http_route"
        errors_match = ",".join(filter(None, [self._match, 'http_response_status_code=~"5.."']))
        out: dict[str, dict[str, Any]] = {}

        def endpoint(row: dict[str, Any]) -> dict[str, Any]:
            labels = row["metric"]
            key = f"{labels.get('http_request_method', '_OTHER')} {labels.get('http_route', 'unmatched')}"
            return out.setdefault(key, {"count": 0, "errors": 0, "sum_seconds": 0.0, "buckets": {}, "edges": []})

        for row in self._client.query(f"sum by ({by}, le) (increase({DURATION}_bucket{{{self._match}}}[{span}]))", end):
            endpoint(row)["buckets"][row["metric"].get("le", "+Inf")] = float(row["value"][1])
        for row in self._client.query(f"sum by ({by}) (increase({DURATION}_sum{{{self._match}}}[{span}]))", end):
            endpoint(row)["sum_seconds"] = float(row["value"][1])
        for row in self._client.query(f"sum by ({by}) (increase({DURATION}_count{{{errors_match}}}[{span}]))", end):
            endpoint(row)["errors"] = round(float(row["value"][1]))
        for entry in out.values():
            edges, cumulative = _histogram(entry["buckets"])
            entry["edges"], entry["buckets"], entry["count"] = list(edges), cumulative, round(cumulative[-1])
        return {key: entry for key, entry in out.items() if entry["count"] > 0}

    def availability(self, start: float, end: float) -> dict[str, Any]:
        rows = self._client.query(f"avg(avg_over_time(up{{{self._match}}}[{seconds(end - start)}]))",
                                  min(end, self._now))
        return {"percent": 100.0 * float(rows[0]["value"][1]) if rows else None}
