"""`GET /api/performance-analytics` and `perfbudget report`: one answer over a range, from any source.

The monitoring guide's shape `{timeRange, metrics, trends, recommendations}` first, then what we know beyond
it: `webVitals` (per route and vital: p75, good share, budget verdict, trend), `playbookOutcomes`, `series`
(what the report's charts draw) and `unavailable` (per section it could not fill, why: never made-up values).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..budgets.model import Budgets
from ..playbooks.model import Playbooks
from ..summary_contract import last_checked
from ..vitals import VITALS
from .previews import Preview
from .ranges import TimeRange
from .recommendations import Breach, blamed, recommend, shown
from .service import ServiceRange
from .sources import OutcomesSource, ServiceWindows, VitalCounts
from .trends import BASIS
from .webvitals import VitalRow, VitalsWindows

Diagnose = Callable[[str, str | None], dict[str, list[dict[str, Any]]]]
METRIC_NAMES = ("avgResponseTime", "peakResponseTime", "totalRequests", "errorRate", "uptime")
TREND_NAMES = ("responseTime", "errorRate", "throughput")


@dataclass(frozen=True)
class Sources:
    """What one answer reads; a part set to None is a section the answer marks unavailable, with `why`."""

    vitals: VitalCounts
    budgets: Budgets
    playbooks: Playbooks
    diagnose: Diagnose | None
    preview: Callable[[str], Preview | None] | None
    service: ServiceWindows | None
    outcomes: OutcomesSource | None
    why: dict[str, str]  # section -> why it is unavailable
    retention_days: int
    source: str  # "perfbudget" or "prometheus <url>"


def _breach(row: VitalRow, diagnose: Diagnose | None) -> Breach:
    budget = row.budget
    assert budget is not None
    value = row.state.p(budget.percentile / 100)
    assert value is not None
    p75 = row.p75
    return Breach(
        metric=row.vital.name, route=row.route,
        value=shown(row.vital, value) + ("" if budget.percentile == 75 else f" at p{budget.percentile:g}"),
        target=shown(row.vital, budget.target), budget=budget.budget_name, severity=budget.severity,
        poor=p75 is not None and row.vital.rate(p75) == "poor", samples=row.state.samples,
        blamed=blamed(diagnose(row.vital.name, row.route)) if diagnose is not None else ())


def build(sources: Sources, span: TimeRange, now: float | None = None) -> dict[str, Any]:
    """The answer's `data` over `span` up to `now`."""
    now = time.time() if now is None else now
    why = dict(sources.why)
    windows = VitalsWindows(sources.vitals, sources.budgets.budget_for)
    overall = windows.rows(span, now, None)
    routes, omitted = windows.by_route(span, now)
    breaches = [_breach(row, sources.diagnose) for by_vital in routes.values() for row in by_vital.values()
                if row.within is False and row.confident]
    breaches += [_breach(row, sources.diagnose) for row in overall.values()
                 if row.within is False and row.confident and row.budget is not None
                 and not any(b.metric == row.vital.name for b in breaches)]
    data: dict[str, Any] = {"timeRange": span.text}
    series: dict[str, Any] = windows.series(span, now)
    if sources.service is not None:
        service = ServiceRange.read(sources.service, span, now)
        data["metrics"], data["trends"] = service.metrics(), service.trends()
        series["api"] = service.series()
        breaches += service.breaches(sources.budgets)
    else:
        why.setdefault("metrics", "no source of HTTP server metrics")
        data["metrics"] = dict.fromkeys(METRIC_NAMES)
        data["trends"] = dict.fromkeys(TREND_NAMES)
        series["api"] = None
    preview = sources.preview or (lambda _: None)
    data["recommendations"] = [r.to_json() for r in recommend(breaches, sources.playbooks, preview)]
    data["webVitals"] = {
        "overall": {name: row.to_json() for name, row in overall.items()},
        "routes": {route: {name: row.to_json() for name, row in by_vital.items()}
                   for route, by_vital in routes.items()},
        "routesOmitted": omitted,
    }
    if sources.outcomes is not None:
        data["playbookOutcomes"] = sources.outcomes(now)
    else:
        why.setdefault("playbookOutcomes", "no source of fix outcomes")
        data["playbookOutcomes"] = None
    data["series"] = series
    data["range"] = {"seconds": span.seconds, "step": span.step, "start": last_checked(now - span.seconds),
                     "end": last_checked(now), "retentionDays": sources.retention_days}
    data["trendsBasis"] = BASIS
    data["priorityRule"] = ("points = breach (critical 2, else 1) + 1 if poor + impact (high 2, medium 1, low 0) "
                            "- effort (high 2, medium 1, low 0); high >= 3, medium 1-2, low < 1")
    data["vitals"] = list(VITALS)
    data["source"] = sources.source
    data["unavailable"] = why
    data["generatedAt"] = last_checked(now)
    return data
