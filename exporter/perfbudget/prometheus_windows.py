"""The summary's windows from Prometheus: counts that every replica's beacons went into.

A replica's own store counts the beacons that reached it; behind a load balancer that is a share of them
(20 of 40 with two replicas). Prometheus scrapes every replica, so the same histograms summed there cover
them all. `PrometheusWindows.window_counts` answers what `SummaryService.window_counts` answers, from PromQL:
per vital, the cumulative counts at the summary's bucket edges of `increase(<vital>_bucket[end - start])`
evaluated at `end`, summed over replicas, devices and the optional labels (per device too for the vitals a
device budget names, and LCP's subparts and INP's phases per part), under the same keys the minute frames
use. Three queries per window, whatever the number of replicas.

Prometheus extrapolates an increase to the window's edges, so counts are not whole numbers, and it sees a
beacon one scrape after it arrived. A bucket edge Prometheus does not have (a replica with other budgets, so
other edges) leaves that vital out rather than misplace its counts, as the local frames do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping

from .config import Config
from .devices import DEVICES
from .promql import PrometheusClient, PrometheusError, matchers, seconds
from .subparts import BREAKDOWNS
from .summary import device_key
from .summary_breakdown import PART_EDGES, part_key
from .summary_quantiles import Counts
from .vitals import VITALS

__all__ = ["PrometheusError", "PrometheusWindows", "summary_windows"]


def _union(parts: list[tuple[str, str]]) -> str:
    """One query for several: each part's vector labelled with its key (`key`), joined with `or`."""
    return " or ".join(f'label_replace({expr}, "key", "{key}", "", "")' for key, expr in parts)


class PrometheusWindows:
    def __init__(self, client: PrometheusClient, edges: Mapping[str, tuple[float, ...]],
                 device_vitals: Collection[str] = ()) -> None:
        """`edges`: the vitals' bucket edges; `device_vitals`: the vitals also counted per device (a device
        budget names them). The keys' edges are the summary's frames' (vitals, devices, LCP subparts and INP
        phases)."""
        self.client = client
        self.url = client.url
        self._device_vitals = sorted(name for name in device_vitals if name in VITALS and name in edges)
        self._edges = {**PART_EDGES, **edges, **{device_key(name, device): edges[name]
                                                 for name in self._device_vitals for device in DEVICES}}

    def window_counts(self, start: float, end: float, route: str | None) -> dict[str, Counts]:
        """Per key, cumulative counts (+Inf last) of [start, end] over every replica Prometheus scrapes.
        PrometheusError when Prometheus cannot answer."""
        span = seconds(end - start)
        match = matchers({"route": route} if route is not None else {})
        vitals = [(name, f"sum by (le) (increase({vital.metric}_bucket{{{match}}}[{span}]))")
                  for name, vital in VITALS.items()]
        found: dict[str, dict[float, float]] = {}
        self._collect(_union(vitals), end, found, _vital_key)
        if self._device_vitals:
            devices = [(name, f"sum by (le, device) (increase({VITALS[name].metric}_bucket{{{match}}}[{span}]))")
                       for name in self._device_vitals]
            self._collect(_union(devices), end, found, _device_key)
        parts = [(name, f"sum by (le, {b.label}) (increase({b.metric}_bucket{{{match}}}[{span}]))")
                 for name, b in BREAKDOWNS.items()]
        self._collect(_union(parts), end, found, _part_key)
        out: dict[str, Counts] = {}
        for key, buckets in found.items():
            edges = self._edges.get(key)
            if edges is None:
                continue
            counts = _cumulative(buckets, edges)
            if counts is not None and counts[-1] > 0:
                out[key] = counts
        return out

    def _collect(self, query: str, at: float, into: dict[str, dict[float, float]],
                 key_of: Callable[[Mapping[str, str]], str | None]) -> None:
        for row in self.client.query(query, at):
            labels = row["metric"]
            le = labels.get("le")
            key = key_of(labels)
            if le is None or not key:
                continue
            value = float(row["value"][1])
            bucket = into.setdefault(key, {})
            edge = math.inf if le == "+Inf" else float(le)
            bucket[edge] = bucket.get(edge, 0.0) + (value if math.isfinite(value) else 0.0)


def _vital_key(labels: Mapping[str, str]) -> str | None:
    return labels.get("key")


def _device_key(labels: Mapping[str, str]) -> str | None:
    vital, device = labels.get("key"), labels.get("device")
    return device_key(vital, device) if vital and device else None


def _part_key(labels: Mapping[str, str]) -> str | None:
    vital = labels.get("key")
    breakdown = BREAKDOWNS.get(vital or "")
    part = labels.get(breakdown.label) if breakdown is not None else None
    return part_key(vital, part) if vital and part else None


def _cumulative(buckets: Mapping[float, float], edges: tuple[float, ...]) -> Counts | None:
    """The counts at `edges` and +Inf, made monotonic (neighbouring extrapolated increases can cross by a
    hair); None when Prometheus lacks one of the edges (the histograms there have another ladder)."""
    out: Counts = []
    running = 0.0
    for edge in (*edges, math.inf):
        count = buckets.get(edge)
        if count is None:
            return None
        running = max(running, count)
        out.append(running)
    return out


def summary_windows(config: Config, edges: Mapping[str, tuple[float, ...]],
                    device_vitals: Collection[str]) -> PrometheusWindows | None:
    """The summary's windows from `prometheus.url` when `prometheus.summary` says so (`auto`: with a shared
    database, so several replicas); None: this exporter's own frames."""
    section = config.prometheus
    if section.url is None or not section.summary_from_prometheus(config.database.url is not None):
        return None
    return PrometheusWindows(PrometheusClient(section.url, timeout=section.timeout_seconds), edges, device_vitals)
