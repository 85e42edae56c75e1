"""systemHealth.status from the service budgets: healthy, warning or critical, and which budget(s) said so.

The budgets are the service thresholds in force (perfbudget.thresholds: the budgets file, ALERT_THRESHOLD_*,
POST /api/performance-alerts): API latency (ms, at the latency budget's percentile), error rate (%),
uptime (%, a floor), CPU and memory (% of capacity). A figure past its threshold is a breach with that
threshold's severity; the status is the worst breach's severity, healthy without one. A figure that is
unknown (no traffic yet, no node_exporter for a service) breaks no budget and is named in `unknown`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..thresholds import ServiceThresholds

#: threshold -> the figure of the answer it is compared with.
FIGURES = {
    "response_time": "responseTimePercentile",
    "error_rate": "errorRate",
    "uptime": "uptime",
    "cpu": "cpu",
    "memory": "memory",
}
_RANK = {"healthy": 0, "info": 0, "warning": 1, "critical": 2}


def decide(figures: Mapping[str, float | None], thresholds: ServiceThresholds) -> dict[str, Any]:
    """{status, breaches: [{budget, figure, value, threshold, unit, severity, source}], unknown: [figure]}."""
    breaches: list[dict[str, Any]] = []
    unknown: list[str] = []
    for threshold in thresholds.all():
        figure = FIGURES[threshold.alert_type]
        value = figures.get(figure)
        if value is None:
            unknown.append(figure)
        elif threshold.breached(value):
            breaches.append({"budget": threshold.alert_type, "figure": figure, "value": value,
                             "threshold": threshold.value, "unit": threshold.unit,
                             "severity": threshold.severity, "source": threshold.source})
    worst = max((b["severity"] for b in breaches), key=lambda s: _RANK.get(s, 1), default="healthy")
    status = "healthy" if _RANK.get(worst, 1) == 0 else worst
    return {"status": status, "breaches": breaches, "unknown": unknown}
