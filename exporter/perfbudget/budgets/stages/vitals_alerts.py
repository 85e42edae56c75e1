"""Stage 2: Web Vitals alerts (budget exceeded, regression, beacons stopped), on stage 1's recording rules.

Each Web Vitals budget owns the (route, device) pairs it applies to where no more specific budget does
(the same choice as `Budgets.budget_for`), so exactly one budget alert can fire for a pair. With sites, every
alert is per (route, device, site): a budget without `site` alerts on each site on its own, and a budget naming
one owns that site's pairs. LCP and INP alerts carry a `cause` label (stage `vitals_causes`).
"""

from __future__ import annotations

from ...vitals import VITALS, Vital
from .. import naming
from ..model import BeaconsStoppedAlert, Budgets, RegressionAlert, VitalBudget
from ..promql import selector
from ..rulefmt import Alert, RuleGroup
from ..templating import GoTemplate, Render, ValueKind, format_value
from .vitals_causes import has_breakdown, with_cause

BUDGETS_GROUP = "perfbudget-web-vitals-budgets"
REGRESSIONS_GROUP = "perfbudget-web-vitals-regressions"
BEACONS_GROUP = "perfbudget-beacons"
_ROUTE_DEVICE = naming.VITAL_ON


def scope(budget: VitalBudget) -> str:
    """The series a Web Vitals budget covers, as a label selector."""
    matchers: list[tuple[str, str, str]] = []
    if budget.route is not None:
        matchers.append(("route", "=~", budget.route))
    if budget.device is not None:
        matchers.append(("device", "=", budget.device))
    if budget.site is not None:
        matchers.append(("site", "=", budget.site))
    return selector(matchers)


def value_kind(vital: Vital) -> ValueKind:
    return "duration" if vital.unit == "s" else "number"


def vital_labels(budget: VitalBudget, severity: str) -> dict[str, str]:
    site = {"site": budget.site} if budget.site is not None else {}
    return naming.alert_labels(severity, budget.metric, budget.budget_name, **site)


def where_text(budget: VitalBudget, r: Render) -> str:
    """'/checkout (phone)', and ' on site shop' for a budget naming a site."""
    site = f" on site {budget.site}" if budget.site is not None else ""
    return f"{r.label('route')} ({r.label('device')}){site}"


def cause_text(metric: str, r: Render) -> str:
    """' Dominant LCP subpart at p75: resource_load_delay.' for LCP and INP (their `cause` label)."""
    if not has_breakdown(VITALS[metric]):
        return ""
    part = naming.BREAKDOWNS[metric][1]
    tag = naming.percentile_tag(naming.CAUSE_PERCENTILE)
    return f" Dominant {metric} {part} at {tag}: {r.label(naming.CAUSE_LABEL)}."


def _vital_links(budgets: Budgets, budget: VitalBudget, r: Render) -> dict[str, str]:
    dashboard = naming.dashboard_url(budgets.grafana_url, "web-vitals")
    return {
        "dashboard": (f"{dashboard}?var-route={r.query('route')}&var-device={r.query('device')}"
                      f"&var-site={r.query('site')}"),
        "runbook_url": naming.runbook_url(budgets.exporter_url, budget.metric),
    }


def _min_samples_text(budget: VitalBudget) -> str:
    parts = [f"{budget.min_samples} page loads"] if budget.min_samples else []
    parts += [f"{budget.min_clients} distinct clients"] if budget.min_clients > 1 else []
    return f", at least {' from '.join(parts)}" if parts else ""


def budget_annotations(budgets: Budgets, budget: VitalBudget, r: Render) -> dict[str, str]:
    """Annotations of the budget-exceeded alert (Go templates or expanded, depending on `r`)."""
    vital = VITALS[budget.metric]
    kind = value_kind(vital)
    p = naming.percentile_tag(budget.percentile)
    where = where_text(budget, r)
    return {
        "summary": f"{budget.metric} {p} is over its budget on {where}",
        "description": (
            f"{p} {budget.metric} over the last {budget.window} is {r.value(kind)} on {where}, above the "
            f"budget of {format_value(kind, budget.target)} (budget {budget.budget_name}"
            f"{_min_samples_text(budget)}).{cause_text(budget.metric, r)}"
        ),
        **_vital_links(budgets, budget, r),
    }


def regression_annotations(budgets: Budgets, budget: VitalBudget, regression: RegressionAlert,
                           r: Render) -> dict[str, str]:
    vital = VITALS[budget.metric]
    p = naming.percentile_tag(budget.percentile)
    where = where_text(budget, r)
    return {
        "summary": f"{budget.metric} {p} regressed on {where}",
        "description": (
            f"{p} {budget.metric} over the last {budget.window} is {r.value(value_kind(vital))} on {where}, "
            f"{naming.number(regression.factor)} times or more what it was {regression.offset} earlier "
            f"(budget {budget.budget_name}, target {format_value(value_kind(vital), budget.target)})."
            f"{cause_text(budget.metric, r)}"
        ),
        **_vital_links(budgets, budget, r),
    }


def _unless_overridden(budgets: Budgets, budget: VitalBudget, count: str) -> str:
    return "".join(
        f"\nunless {_ROUTE_DEVICE} {count}{scope(other)}" for other in budgets.overriding(budget)
    )


def _enough(budget: VitalBudget, count: str, offset: str = "") -> str:
    if not budget.min_samples:
        return ""
    shifted = f"{count}{scope(budget)}" + (f" offset {offset}" if offset else "")
    return f"\nand {_ROUTE_DEVICE} {shifted} >= {budget.min_samples}"


def _enough_clients(budget: VitalBudget) -> str:
    """Forged beacons come from few addresses: the route needs `min_clients` distinct clients in the window
    (the exporter's HyperLogLog gauge; `max by (route)` over its instances, the conservative merge)."""
    if not budget.min_clients:
        return ""
    clients = f'{naming.METRIC_DISTINCT_CLIENTS}{{window="{budget.window}"}}'
    return f"\nand on (route) max by (route) ({clients}) >= {budget.min_clients}"


def budget_alert(budgets: Budgets, budget: VitalBudget) -> Alert:
    """p-percentile over the target, with enough page loads, on the pairs this budget owns."""
    vital = VITALS[budget.metric]
    quantile = naming.vital_quantile(vital, budget.percentile, budget.window)
    count = naming.vital_count_increase(vital, budget.window)
    expr = (f"{quantile}{scope(budget)} > {naming.number(budget.target)}"
            + _enough(budget, count) + _enough_clients(budget) + _unless_overridden(budgets, budget, count))
    expr = with_cause(vital, budget.window, expr, f"{quantile}{scope(budget)}")
    return Alert(naming.ALERT_VITAL_BUDGET, expr, budget.for_, vital_labels(budget, budget.severity),
                 budget_annotations(budgets, budget, GoTemplate()))


def regression_alert(budgets: Budgets, budget: VitalBudget, regression: RegressionAlert) -> Alert:
    """p-percentile `factor` times worse than `offset` earlier, with enough loads in both windows."""
    vital = VITALS[budget.metric]
    quantile = naming.vital_quantile(vital, budget.percentile, budget.window)
    count = naming.vital_count_increase(vital, budget.window)
    current = f"{quantile}{scope(budget)}"
    expr = (f"{current}\n> {naming.number(regression.factor)} * ({current} offset {regression.offset})"
            + _enough(budget, count) + _enough(budget, count, regression.offset) + _enough_clients(budget)
            + _unless_overridden(budgets, budget, count))
    expr = with_cause(vital, budget.window, expr, current)
    return Alert(naming.ALERT_VITAL_REGRESSION, expr, regression.for_, vital_labels(budget, regression.severity),
                 regression_annotations(budgets, budget, regression, GoTemplate()))


def beacons_stopped_labels(alert: BeaconsStoppedAlert) -> dict[str, str]:
    return naming.alert_labels(alert.severity, naming.METRIC_BEACONS, naming.BUDGET_BEACONS)


def beacons_stopped_annotations(budgets: Budgets, alert: BeaconsStoppedAlert, r: Render) -> dict[str, str]:
    return {
        "summary": f"No Web Vitals beacons reach {r.label('instance')}",
        "description": (
            f"{r.label('instance')} accepted no Web Vitals report in the last {alert.window}, while the same "
            f"{alert.window} {alert.offset} earlier had some: check that beacon.js is still on the pages and "
            f"that browsers can reach /api/web-vitals."
        ),
        "dashboard": naming.dashboard_url(budgets.grafana_url, "exporter-health"),
        "runbook_url": naming.runbook_url(budgets.exporter_url, naming.METRIC_BEACONS),
    }


def beacons_stopped_alert(budgets: Budgets, alert: BeaconsStoppedAlert) -> Alert:
    accepted = "perfbudget_reports_accepted_total"
    expr = (f"sum by (job, instance) (increase({accepted}[{alert.window}])) == 0\n"
            f"and on (job, instance) sum by (job, instance) (increase({accepted}[{alert.window}] offset "
            f"{alert.offset})) > 0")
    return Alert(naming.ALERT_BEACONS_STOPPED, expr, alert.for_, beacons_stopped_labels(alert),
                 beacons_stopped_annotations(budgets, alert, GoTemplate()))


def rule_groups(budgets: Budgets) -> tuple[RuleGroup, ...]:
    """One budget alert per Web Vitals budget, a regression alert per budget when regressions are on, and
    the beacons-stopped alert when it is on."""
    groups = [RuleGroup(BUDGETS_GROUP, tuple(budget_alert(budgets, budget) for budget in budgets.vitals))]
    if budgets.regression is not None:
        regression = budgets.regression
        groups.append(RuleGroup(REGRESSIONS_GROUP,
                                tuple(regression_alert(budgets, budget, regression) for budget in budgets.vitals)))
    if budgets.beacons_stopped is not None:
        groups.append(RuleGroup(BEACONS_GROUP, (beacons_stopped_alert(budgets, budgets.beacons_stopped),)))
    return tuple(groups)
