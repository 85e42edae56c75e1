"""Stage 2b: objectives on the good share of a Web Vital, alerted by multiwindow multi-burn-rate alerts (the
same scheme as the availability objective, `perfbudget.budgets.burn_rates`).

The SLI is the share of page loads over the objective's threshold, per (route, device), recorded over every
window a burn rate reads: one minus the `le` bucket at the threshold over the count, exact because the
threshold is a bucket edge. Each burn rate alerts when that share is over burn rate x error budget over both
its long and its short window, with `min_samples` page loads and `min_clients` distinct clients on the route
in the long window (the guard the budget alerts carry).
"""

from __future__ import annotations

from ...vitals import VITALS, Vital
from .. import naming
from ..burn_rates import BurnRate, budget_spent, burn_threshold, burn_windows
from ..model import Budgets
from ..objectives import VitalObjective
from ..promql import by_duration, selector
from ..rulefmt import Alert, Recording, RuleGroup
from ..templating import GoTemplate, Render, format_value
from .vitals_alerts import cause_text
from .vitals_causes import with_cause
from .vitals_recording import vital_windows

SLI_GROUP = "perfbudget-web-vitals-objectives-sli"
ALERTS_GROUP = "perfbudget-web-vitals-objectives"
_ROUTE_DEVICE = naming.VITAL_ON


def scope(objective: VitalObjective) -> str:
    """The series an objective covers, as a label selector."""
    matchers: list[tuple[str, str, str]] = []
    if objective.route is not None:
        matchers.append(("route", "=~", objective.route))
    if objective.device is not None:
        matchers.append(("device", "=", objective.device))
    if objective.site is not None:
        matchers.append(("site", "=", objective.site))
    return selector(matchers)


def threshold_text(objective: VitalObjective) -> str:
    """'2.5s' for the timing vitals, '0.1' for CLS."""
    return format_value("duration" if VITALS[objective.metric].unit == "s" else "number", objective.threshold)


def burn_text(burn: BurnRate) -> str:
    return f"{burn.burn_rate:.4g}"


def objective_labels(objective: VitalObjective, burn: BurnRate) -> dict[str, str]:
    site = {"site": objective.site} if objective.site is not None else {}
    return naming.alert_labels(burn.severity, objective.metric, objective.budget_name,
                               long_window=burn.long_window, short_window=burn.short_window, **site)


def _guards_text(objective: VitalObjective) -> str:
    parts = [f"{objective.min_samples} page loads"] if objective.min_samples else []
    parts += [f"{objective.min_clients} distinct clients"] if objective.min_clients > 1 else []
    return f", at least {' from '.join(parts)} in the long window" if parts else ""


def objective_annotations(budgets: Budgets, objective: VitalObjective, burn: BurnRate, r: Render) -> dict[str, str]:
    """Annotations of a burn-rate alert (Go templates or expanded, depending on `r`)."""
    site = f" on site {objective.site}" if objective.site is not None else ""
    where = f"{r.label('route')} ({r.label('device')}){site}"
    threshold, rate = threshold_text(objective), burn_text(burn)
    spent = budget_spent(burn, objective.window)
    dashboard = naming.dashboard_url(budgets.grafana_url, "web-vitals")
    return {
        "summary": f"{objective.metric} error budget of {objective.budget_name} burns at {rate}x on {where}",
        "description": (
            f"{r.value('percentage')} of page loads on {where} had {objective.metric} over {threshold} in the last "
            f"{burn.long_window}, and in the last {burn.short_window} too: the objective "
            f"({objective.objective_percent}% at or under {threshold} over {objective.window}) allows "
            f"{format_value('percentage', objective.error_budget)} over it, so its error budget burns at least {rate}x "
            f"as fast as it may, spending {format_value('percentage', spent)} of it in {burn.long_window} "
            f"(budget {objective.budget_name}{_guards_text(objective)}).{cause_text(objective.metric, r)}"
        ),
        "dashboard": f"{dashboard}?var-route={r.query('route')}&var-device={r.query('device')}",
        "runbook_url": naming.runbook_url(budgets.exporter_url, objective.metric),
    }


def sli_windows(budgets: Budgets) -> dict[tuple[str, float], list[str]]:
    """(vital, threshold) -> the windows its error ratio is recorded over, shortest first."""
    out: dict[tuple[str, float], list[str]] = {}
    for objective in budgets.objectives:
        out.setdefault((objective.metric, objective.threshold), []).extend(
            burn_windows(objective.alerting_burn_rates))
    return {key: by_duration(windows) for key, windows in out.items()}


def count_windows(budgets: Budgets, vital: Vital) -> list[str]:
    """The long windows whose page-load count `min_samples` reads and stage 1 does not record already."""
    recorded = vital_windows(budgets, vital)
    return by_duration(burn.long_window for objective in budgets.objectives
                       if objective.metric == vital.name and objective.min_samples
                       for burn in objective.alerting_burn_rates if burn.long_window not in recorded)


def _recordings(budgets: Budgets) -> list[Recording]:
    rules: list[Recording] = []
    for (name, threshold), windows in sli_windows(budgets).items():
        vital = VITALS[name]
        good = f'{vital.metric}_bucket{{le="{naming.le(threshold)}"}}'
        rules += [Recording(naming.vital_error_ratio(vital, threshold, window), (
            f"1 - sum by ({naming.VITAL_BY}) (increase({good}[{window}]))\n"
            f"/ sum by ({naming.VITAL_BY}) (increase({vital.metric}_count[{window}]))")) for window in windows]
    for vital in VITALS.values():
        rules += [Recording(naming.vital_count_increase(vital, window),
                            f"sum by ({naming.VITAL_BY}) (increase({vital.metric}_count[{window}]))")
                  for window in count_windows(budgets, vital)]
    return rules


def burn_alert(budgets: Budgets, objective: VitalObjective, burn: BurnRate) -> Alert:
    """The error ratio over `burn_rate` x the error budget over both windows, with enough loads and clients."""
    vital = VITALS[objective.metric]
    where = scope(objective)
    threshold = naming.number(burn_threshold(objective.error_budget, burn))
    long = naming.vital_error_ratio(vital, objective.threshold, burn.long_window)
    short = naming.vital_error_ratio(vital, objective.threshold, burn.short_window)
    expr = f"{long}{where} > {threshold}\nand {_ROUTE_DEVICE} {short}{where} > {threshold}"
    if objective.min_samples:
        count = naming.vital_count_increase(vital, burn.long_window)
        expr += f"\nand {_ROUTE_DEVICE} {count}{where} >= {objective.min_samples}"
    if objective.min_clients:
        clients = f'{naming.METRIC_DISTINCT_CLIENTS}{{window="{burn.long_window}"}}'
        expr += f"\nand on (route) max by (route) ({clients}) >= {objective.min_clients}"
    expr = with_cause(vital, burn.long_window, expr, f"{long}{where}")
    return Alert(naming.ALERT_VITAL_OBJECTIVE, expr, burn.for_, objective_labels(objective, burn),
                 objective_annotations(budgets, objective, burn, GoTemplate()))


def rule_groups(budgets: Budgets) -> tuple[RuleGroup, ...]:
    """The error ratios every objective's burn rates read, then one alert per objective and burn rate."""
    alerts = [burn_alert(budgets, objective, burn)
              for objective in budgets.objectives for burn in objective.alerting_burn_rates]
    return RuleGroup(SLI_GROUP, tuple(_recordings(budgets))), RuleGroup(ALERTS_GROUP, tuple(alerts))
