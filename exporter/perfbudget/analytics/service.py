"""The monitoring guide's `metrics` and `trends` over a range, from the service's HTTP server histograms
(OpenTelemetry's `http_server_request_duration_seconds`, every endpoint together), its API series, and the
service budgets it breached.

    avgResponseTime   ms, the mean duration of every request that completed in the range
    peakResponseTime  ms, the highest mean duration of one series step (the busiest stretch, not one request)
    totalRequests     requests completed in the range
    errorRate         percent of them answered 5xx (the guide's 0.08 means 0.08 %)
    uptime            percent availability over the range (ServiceWindows.availability)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..budgets.model import Budgets
from ..summary import quantile
from ..summary_contract import last_checked
from .ranges import TimeRange
from .recommendations import Breach
from .sources import ServiceWindows
from .trends import lower_is_better, volume


@dataclass(frozen=True)
class Totals:
    """Every endpoint of one window summed."""

    count: int
    errors: int
    sum_seconds: float
    edges: tuple[float, ...]
    buckets: list[float]

    @property
    def avg_ms(self) -> float | None:
        return None if not self.count else self.sum_seconds / self.count * 1000

    @property
    def error_percent(self) -> float | None:
        return None if not self.count else 100.0 * self.errors / self.count

    def percentile(self, q: float) -> float | None:
        return quantile(q, self.edges, self.buckets) if self.edges and self.count else None


def totals(endpoints: dict[str, dict[str, Any]]) -> Totals:
    count = errors = 0
    total = 0.0
    edges: tuple[float, ...] = ()
    buckets: list[float] = []
    for entry in endpoints.values():
        count += int(entry["count"])
        errors += int(entry["errors"])
        total += float(entry["sum_seconds"])
        these = tuple(float(e) for e in entry.get("edges") or ())
        if not edges:
            edges, buckets = these, [float(b) for b in entry.get("buckets") or ()]
        elif these == edges and len(entry["buckets"]) == len(buckets):
            buckets = [a + float(b) for a, b in zip(buckets, entry["buckets"], strict=True)]
    return Totals(count, errors, total, edges, buckets)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class ServiceRange:
    """The service over one range: the whole, its halves and its steps."""

    span: TimeRange
    now: float
    whole: Totals
    first: Totals
    second: Totals
    steps: list[tuple[float, Totals]]
    uptime: float | None

    @classmethod
    def read(cls, source: ServiceWindows, span: TimeRange, now: float) -> ServiceRange:
        start, mid = now - span.seconds, now - span.seconds / 2
        steps = []
        for index in range(span.points):
            a = start + index * span.step
            b = min(now, a + span.step)
            steps.append((b, totals(source.window(a, b))))
        uptime = source.availability(start, now).get("percent")
        return cls(span, now, totals(source.window(start, now)), totals(source.window(start, mid)),
                   totals(source.window(mid, now)), steps, None if uptime is None else float(uptime))

    def metrics(self) -> dict[str, Any]:
        peaks = [t.avg_ms for _, t in self.steps if t.avg_ms is not None]
        return {
            "avgResponseTime": _round(self.whole.avg_ms),
            "peakResponseTime": _round(max(peaks) if peaks else None),
            "totalRequests": self.whole.count,
            "errorRate": _round(self.whole.error_percent, 4),
            "uptime": _round(self.uptime, 3),
        }

    def trends(self) -> dict[str, Any]:
        half_minutes = self.span.seconds / 2 / 60
        return {
            "responseTime": lower_is_better(self.first.avg_ms, self.second.avg_ms),
            "errorRate": lower_is_better(self.first.error_percent, self.second.error_percent),
            "throughput": volume(self.first.count / half_minutes, self.second.count / half_minutes),
        }

    def series(self) -> dict[str, Any]:
        points = []
        for end, t in self.steps:
            p95 = t.percentile(0.95)
            points.append({"t": last_checked(end), "ts": round(end, 3), "avgResponseTime": _round(t.avg_ms),
                           "p95ResponseTime": _round(None if p95 is None else p95 * 1000),
                           "errorRate": _round(t.error_percent, 4), "requests": t.count,
                           "throughput": round(t.count / (self.span.step / 60), 3)})
        return {"step": self.span.step, "points": points}

    def breaches(self, budgets: Budgets) -> list[Breach]:
        """The service budgets over their target across the whole range (latency at its percentile, error rate)."""
        out = []
        latency, errors = budgets.service.latency, budgets.service.error_rate
        if latency is not None:
            value = self.whole.percentile(latency.percentile / 100)
            if value is not None and value > latency.target:
                out.append(Breach("api_latency", None, f"{value * 1000:,.0f} ms at p{latency.percentile:g}",
                                  f"{latency.target * 1000:,.0f} ms", "service latency", latency.severity,
                                  value > 2 * latency.target, self.whole.count))
        rate = self.whole.error_percent
        if errors is not None and rate is not None and rate / 100 > errors.target:
            out.append(Breach("error_rate", None, f"{rate:.3g} %", f"{errors.target * 100:g} %", "service error rate",
                              errors.severity, rate / 100 > 10 * errors.target, self.whole.count))
        return out
