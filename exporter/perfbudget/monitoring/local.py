"""GET /api/performance-monitoring of perfbudget itself: its own HTTP history (service_history.py) over the
last hour, its availability over the last 24 h, the host's resources (psutil) and the status the service
budgets give.

Figures and units (the monitoring guide's):
- systemHealth.uptime: percent of the minutes of the last 24 h a perfbudget server answered (from its first
  minute of history on); responseTime: mean request duration in ms over the last hour,
  responseTimePercentile the latency budget's percentile of it (latencyPercentile, 95 by default: what the
  budget compares); errorRate: percent of requests answered 5xx;
  throughput: requests per minute over the last hour (over the part of it the history covers).
- apiPerformance per endpoint (`<METHOD> <route>`), last hour: avgResponseTime (ms), successRate (percent
  not 5xx), callsPerHour (requests in the last hour), errorCount (5xx in it), lastError (the endpoint's last
  5xx ever recorded: time, statusCode, error class; null without one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..service_history import ServiceHistory
from ..summary import quantile
from ..thresholds import ServiceThresholds
from .host import HostSampler
from .status import decide

HOUR, DAY = 3600, 86400


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(seconds: float, count: int) -> float | None:
    return round(1000.0 * seconds / count, 3) if count else None


class LocalMonitor:
    def __init__(self, history: ServiceHistory, host: HostSampler, thresholds: Callable[[], ServiceThresholds],
                 clock: Callable[[], float] = time.time, percentile: float = 95.0) -> None:
        self._history = history
        self._percentile = percentile
        self._host = host
        self._thresholds = thresholds
        self._clock = clock

    def answer(self) -> dict[str, Any]:
        now = self._clock()
        window = self._history.window(now - HOUR, now)
        covered = self._history.availability(now - HOUR, now)
        day = self._history.availability(now - DAY, now)
        errors = self._history.last_errors()
        count = sum(e["count"] for e in window.values())
        failed = sum(e["errors"] for e in window.values())
        seconds = sum(e["sum_seconds"] for e in window.values())
        at = self._at_percentile(window)
        since = covered["since"]
        minutes = max(now - since, 1.0) / 60 if since is not None else None
        health: dict[str, Any] = {
            "uptime": day["percent"],
            "responseTime": _ms(seconds, count),
            "responseTimePercentile": round(at * 1000.0, 3) if at is not None else None,
            "latencyPercentile": self._percentile,
            "errorRate": round(100.0 * failed / count, 4) if count else None,
            "throughput": round(count / minutes, 3) if minutes else 0.0,
        }
        resources = self._host.sample()
        verdict = decide({**health, **resources}, self._thresholds())
        health.update(status=verdict["status"], breaches=verdict["breaches"], unknown=verdict["unknown"],
                      availability=day, window={"seconds": HOUR, "requests": count})
        api = {}
        for endpoint, entry in window.items():
            n = entry["count"]
            api[endpoint] = {
                "avgResponseTime": _ms(entry["sum_seconds"], n),
                "successRate": round(100.0 * (n - entry["errors"]) / n, 4),
                "callsPerHour": n,
                "errorCount": entry["errors"],
                "lastError": errors.get(endpoint),
            }
        for endpoint, last in errors.items():  # an endpoint quiet this hour still shows its last error
            api.setdefault(endpoint, {"avgResponseTime": None, "successRate": None, "callsPerHour": 0,
                                      "errorCount": 0, "lastError": last})
        return {"timestamp": iso(now), "source": {"kind": "perfbudget"}, "systemHealth": health,
                "apiPerformance": api, "resourceUsage": resources}

    def _at_percentile(self, window: dict[str, dict[str, Any]]) -> float | None:
        """The latency budget's percentile of every request of the window (buckets summed over endpoints)."""
        if not window:
            return None
        entries = list(window.values())
        edges = tuple(entries[0]["edges"])
        summed = [float(sum(column)) for column in zip(*(e["buckets"] for e in entries), strict=True)]
        return quantile(self._percentile / 100.0, edges, summed)
