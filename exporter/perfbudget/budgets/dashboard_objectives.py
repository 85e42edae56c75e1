"""The Web Vitals dashboard's objectives: per objective, the good share against the objective over time and
the error budget left over the objective's window, for the routes and devices selected that it covers.

Counted from the histogram itself (the `le` bucket at the threshold over the count), summed over the
selection, so the share is the selection's whole, where the alerts judge each route and device alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..vitals import VITALS
from . import naming
from .model import Budgets
from .objectives import VitalObjective
from .promql import selector
from .stages.vitals_slo import threshold_text

SELECTION = [("route", "=~", "$route"), ("device", "=~", "$device"), ("site", "=~", "$site")]


@dataclass(frozen=True, slots=True)
class ObjectivePanels:
    """What the dashboard draws for one objective: titles, descriptions and (expr, legend) targets."""

    share_title: str
    share_description: str
    share_targets: tuple[tuple[str, str], ...]
    budget_title: str
    budget_description: str
    budget_expr: str


def _scope(objective: VitalObjective, le: str | None = None) -> str:
    matchers = [("le", "=", le)] if le is not None else []
    if objective.route is not None:
        matchers.append(("route", "=~", objective.route))
    if objective.device is not None:
        matchers.append(("device", "=", objective.device))
    if objective.site is not None:
        matchers.append(("site", "=", objective.site))
    return selector([*matchers, *SELECTION])


def good_share(objective: VitalObjective, window: str) -> str:
    """The share of the selected page loads in scope at or under the threshold, over `window`."""
    vital = VITALS[objective.metric]
    function = "rate" if window.startswith("$") else "increase"
    good = f"{vital.metric}_bucket{_scope(objective, naming.le(objective.threshold))}"
    return (f"sum({function}({good}[{window}]))\n"
            f"/ sum({function}({vital.metric}_count{_scope(objective)}[{window}]))")


def objective_panels(budgets: Budgets) -> list[ObjectivePanels]:
    out = []
    for objective in budgets.objectives:
        name, threshold = objective.budget_name, threshold_text(objective)
        what = f"{objective.objective_percent}% of page loads with {objective.metric} at or under {threshold}"
        where = " ".join(part for part in (objective.route and f"on {objective.route}",
                                           objective.device and f"on {objective.device}s",
                                           objective.site and f"on site {objective.site}") if part)
        goal = f"{what}{' ' + where if where else ''} over {objective.window}"
        out.append(ObjectivePanels(
            share_title=f"{name}: {objective.metric} good share against {objective.objective_percent}%",
            share_description=(f"Objective {name}: {goal}. The share of the selected page loads it covers at or "
                               f"under {threshold}, per interval and over the last day; the alerts judge each "
                               "route and device alone."),
            share_targets=((good_share(objective, "$__rate_interval"), "good share"),
                           (good_share(objective, "1d"), "good share over 1d"),
                           (f"vector({naming.number(objective.objective)})",
                            f"objective {objective.objective_percent}%")),
            budget_title=f"{name}: error budget left over {objective.window}",
            budget_description=(f"Objective {name}: {goal}. The share of the selected page loads over {threshold} "
                                f"in the last {objective.window}, against the "
                                f"{naming.number(objective.error_budget * 100)}% the objective allows: 100% "
                                "when none was, 0 when the objective is just met, under 0 when it is broken."),
            budget_expr=f"1 - (1 - ({good_share(objective, objective.window)})) / "
                        f"{naming.number(objective.error_budget)}",
        ))
    return out
