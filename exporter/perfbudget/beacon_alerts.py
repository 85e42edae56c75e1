"""The `alerts` of a beacon's answer (`POST /api/web-vitals`): the founding contract's
`{metric, value, severity, action}` per report that needs attention, with the budget that applies beside it.

One rule: `severity` follows Google's rating as the contract does (poor `high`, needs-improvement `medium`),
and a value rated good but over the budget that applies to its route and device is `low`; a good value within
its budget gives no alert. An alert over a budget also names that budget, its target and its own severity
(the one its Prometheus alert carries). `action` is what a person can do next: the playbook that addresses
the vital, previewed by a dry run.

The answer is per report, so this runs on the hot path: the budget per (metric, route, device) is looked up
once and cached (routes and devices are bounded), and a good value under every target of its vital is
decided by one comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from .budgets.model import Budgets, VitalBudget
from .vitals import VITALS, Vital

AlertSeverity = Literal["high", "medium", "low"]

#: A playbook suggestion for a vital (playbooks.suggest_fix): its id and display name, or None.
Suggest = Callable[[str], Mapping[str, Any] | None]


class BeaconAlerts:
    def __init__(self, budgets: Budgets, suggest: Suggest) -> None:
        self._budgets = budgets
        self._budget: dict[tuple[str, str, str], VitalBudget | None] = {}
        # Below the smallest target of a vital's budgets, a good value is within whichever applies.
        self._lowest = {name: min((b.target for b in budgets.vitals if b.metric == name), default=None)
                        for name in VITALS}
        self._actions = {name: _actions(VITALS[name], suggest(name)) for name in VITALS}

    def alert(self, vital: Vital, value: float, rating: str, route: str, device: str) -> dict[str, Any] | None:
        """The alert for one accepted report, or None when it is good and within its budget."""
        name = vital.name
        lowest = self._lowest[name]
        if rating == "good" and (lowest is None or value <= lowest):
            return None
        key = (name, route, device)
        if key in self._budget:
            budget = self._budget[key]
        else:
            budget = self._budget[key] = self._budgets.budget_for(name, route, device)
        over = budget is not None and value > budget.target
        severity: AlertSeverity
        if rating == "poor":
            severity = "high"
        elif rating == "needs-improvement":
            severity = "medium"
        elif over:
            severity = "low"
        else:
            return None
        alert: dict[str, Any] = {
            "metric": name,
            "value": round(vital.to_display(value), 4),
            "severity": severity,
            "action": self._actions[name][severity],
            "unit": vital.display_unit,
            "rating": rating,
            "route": route,
            "device": device,
        }
        if budget is not None and over:
            alert["budget"] = {"name": budget.budget_name, "target": round(vital.to_display(budget.target), 4),
                               "severity": budget.severity}
        return alert


def _actions(vital: Vital, fix: Mapping[str, Any] | None) -> dict[AlertSeverity, str]:
    """What a person can do, per severity, naming the playbook for the vital when there is one."""
    if fix is None:
        playbook = f"see what the beacons blame for {vital.name} in GET /api/web-vitals?page=<the page>"
    else:
        playbook = (f"preview the {fix['name']} playbook: POST /api/perf-fix "
                    f"{{\"playbookId\": \"{fix['playbookId']}\", \"dryRun\": true}}")
    return {
        "high": f"Fix now: {vital.name} is poor for this page view; {playbook}",
        "medium": f"Monitor for further degradation; to improve {vital.name}, {playbook}",
        "low": f"Good by Google's thresholds but over this route's budget; {playbook}",
    }
