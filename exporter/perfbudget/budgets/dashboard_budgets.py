"""The Web Vitals dashboard's budgets: a dashed line per budget in its vital's panels, and the colour steps
(Google's good / needs improvement / poor, shaded where the site-wide budget lies) of its stats and table.

Grafana's threshold steps are fixed in the JSON and cannot follow the `$route`/`$device` variables, so each
budget is a series instead: its target as a constant, drawn while the selection holds page loads over
the last hour that the budget owns (the ownership the alerts use: more specific budgets win), or while the
selection is every route and device. Unfiltered, every budget of the vital is drawn; filtered to one route
and device, only the budget whose alert would fire there.
"""

from __future__ import annotations

from typing import Any

from ..vitals import VITALS, Vital
from . import naming
from .model import Budgets, VitalBudget
from .promql import selector
from .stages.vitals_alerts import scope, value_kind
from .stages.vitals_recording import DASHBOARD_WINDOW
from .templating import format_value

BUDGET_LEGEND_PREFIX = "budget "
SELECTION = [("route", "=~", "$route"), ("device", "=~", "$device"), ("site", "=~", "$site")]

# Where the site-wide budget falls, the colour of "over budget" within Google's rating.
_OVER_BUDGET = {"good": "yellow", "needs improvement": "dark-orange", "poor": "dark-red"}

Steps = tuple[tuple[float | None, str], ...]


def general_target(budgets: Budgets, vital: Vital) -> float:
    """The target of the budget for every route and device, else Google's good threshold."""
    for budget in budgets.vitals:
        if budget.metric == vital.name and budget.route is None and budget.device is None:
            return budget.target
    return vital.good


def rating_steps(budgets: Budgets, vital: Vital) -> Steps:
    """Green, orange from Google's good threshold, red from its poor one; plus a darker shade of the
    rating's colour from the site-wide budget's target when it is not one of those thresholds."""
    steps: list[tuple[float | None, str]] = [(None, "green"), (vital.good, "orange"), (vital.poor, "red")]
    target = general_target(budgets, vital)
    if target not in (vital.good, vital.poor):
        rating = "good" if target < vital.good else "needs improvement" if target < vital.poor else "poor"
        steps.append((target, _OVER_BUDGET[rating]))
    return (steps[0], *sorted(steps[1:], key=lambda step: step[0] or 0.0))


def _where(budget: VitalBudget) -> str:
    parts = [f"route {budget.route}"] if budget.route is not None else []
    parts += [budget.device] if budget.device is not None else []
    parts += [f"site {budget.site}"] if budget.site is not None else []
    return ", ".join(parts) or "every route and device"


def budget_legend(budget: VitalBudget) -> str:
    p = naming.percentile_tag(budget.percentile)
    target = format_value(value_kind(VITALS[budget.metric]), budget.target)
    return f"{BUDGET_LEGEND_PREFIX}{budget.budget_name} ({p} {target}, {_where(budget)})"


def budget_line(budgets: Budgets, budget: VitalBudget, vital: Vital) -> str:
    """The budget's target while the selection holds page loads it owns, or is everything."""
    count = naming.vital_count_increase(vital, DASHBOARD_WINDOW)
    owned = count + selector([*SELECTION, *_matchers(budget)])
    for other in budgets.overriding(budget):
        owned += f" unless {naming.VITAL_ON} {count}{scope(other)}"
    everything = f"count({count}{selector(SELECTION)}) == count({count})"
    return f"vector({naming.number(budget.target)}) and on () (count({owned}) or {everything})"


def _matchers(budget: VitalBudget) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    if budget.route is not None:
        out.append(("route", "=~", budget.route))
    if budget.device is not None:
        out.append(("device", "=", budget.device))
    if budget.site is not None:
        out.append(("site", "=", budget.site))
    return out


def budget_lines(budgets: Budgets, vital: Vital) -> list[tuple[str, str]]:
    """(expr, legend) of every budget of `vital`, in the budgets file's order."""
    return [(budget_line(budgets, b, vital), budget_legend(b)) for b in budgets.vitals if b.metric == vital.name]


def budget_line_style() -> dict[str, Any]:
    """Override drawing the budget series dashed, thin and unfilled, apart from the measured p75."""
    return {"matcher": {"id": "byRegexp", "options": f"^{BUDGET_LEGEND_PREFIX}.*"},
            "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                           {"id": "custom.lineWidth", "value": 1},
                           {"id": "custom.fillOpacity", "value": 0}]}
