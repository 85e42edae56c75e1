"""Stage 3: service budgets per job: API latency, error rate, and availability burn-rate alerts.

The error rate and the availability objective read one SLI, the error ratio recorded per window; the
availability alerts are multiwindow, multi-burn-rate (a long window to be sure, a short one to resolve fast).
"""

from __future__ import annotations

from .. import burn_rates, naming
from ..burn_rates import BurnRate
from ..model import AvailabilityBudget, Budgets, ErrorRateBudget, LatencyBudget
from ..promql import by_duration, equality, selector, string
from ..rulefmt import Alert, Recording, RuleGroup
from ..templating import GoTemplate, Render, format_value

SLI_GROUP = "perfbudget-service-sli"
BUDGETS_GROUP = "perfbudget-service-budgets"


def error_rate_settings(budgets: Budgets) -> ErrorRateBudget:
    """Where failed requests are counted (the availability objective uses the same SLI)."""
    return budgets.service.error_rate or ErrorRateBudget()


def latency_labels(latency: LatencyBudget) -> dict[str, str]:
    return naming.alert_labels(latency.severity, naming.METRIC_API_LATENCY, naming.BUDGET_API_LATENCY)


def error_rate_labels(errors: ErrorRateBudget) -> dict[str, str]:
    return naming.alert_labels(errors.severity, naming.METRIC_ERROR_RATE, naming.BUDGET_ERROR_RATE)


def availability_labels(burn: BurnRate) -> dict[str, str]:
    return naming.alert_labels(burn.severity, naming.METRIC_AVAILABILITY, naming.BUDGET_AVAILABILITY,
                               long_window=burn.long_window, short_window=burn.short_window)


def latency_annotations(budgets: Budgets, latency: LatencyBudget, r: Render) -> dict[str, str]:
    p = naming.percentile_tag(latency.percentile)
    return {
        "summary": f"API {p} latency is over its budget for {r.label('job')}",
        "description": (
            f"{p} of {latency.metric} over the last {latency.window} is {r.value('duration')} for job "
            f"{r.label('job')}, above the budget of {format_value('duration', latency.target)}."
        ),
        "dashboard": naming.dashboard_url(budgets.grafana_url, "service-budgets"),
        "runbook_url": naming.runbook_url(budgets.exporter_url, naming.METRIC_API_LATENCY),
    }


def error_rate_annotations(budgets: Budgets, errors: ErrorRateBudget, r: Render) -> dict[str, str]:
    return {
        "summary": f"Error rate is over its budget for {r.label('job')}",
        "description": (
            f"{r.value('percentage')} of requests to job {r.label('job')} failed over the last {errors.window} "
            f"({errors.error_label}=~{string(errors.error_regex)}), above the budget of "
            f"{format_value('percentage', errors.target)}."
        ),
        "dashboard": naming.dashboard_url(budgets.grafana_url, "service-budgets"),
        "runbook_url": naming.runbook_url(budgets.exporter_url, naming.METRIC_ERROR_RATE),
    }


def availability_annotations(budgets: Budgets, availability: AvailabilityBudget, burn: BurnRate,
                             r: Render) -> dict[str, str]:
    return {
        "summary": f"Availability error budget of {r.label('job')} burns {naming.number(burn.burn_rate)}x too fast",
        "description": (
            f"{r.value('percentage')} of requests to job {r.label('job')} failed over the last "
            f"{burn.long_window} (and over the last {burn.short_window}): {naming.number(burn.burn_rate)} times "
            f"the error budget of the {naming.number(availability.objective)}% objective over "
            f"{availability.period}."
        ),
        "dashboard": naming.dashboard_url(budgets.grafana_url, "service-budgets"),
        "runbook_url": naming.runbook_url(budgets.exporter_url, naming.METRIC_AVAILABILITY),
    }


def burn_threshold(availability: AvailabilityBudget, burn: BurnRate) -> float:
    """The error ratio at which the error budget burns `burn_rate` times too fast."""
    return burn_rates.burn_threshold(availability.error_budget, burn)


def error_ratio_windows(budgets: Budgets) -> list[str]:
    """Every window an error-rate or availability alert reads the error ratio over, shortest first."""
    windows: list[str] = []
    if budgets.service.error_rate is not None:
        windows.append(budgets.service.error_rate.window)
    if budgets.service.availability is not None:
        windows += burn_rates.burn_windows(budgets.service.availability.burn_rates)
    return by_duration(windows)


def _latency_rules(budgets: Budgets, latency: LatencyBudget) -> tuple[Recording, Alert]:
    name = naming.service_latency_quantile(latency.metric, latency.percentile, latency.window)
    sel = selector(equality(latency.selector))
    recording = Recording(name, (
        f"histogram_quantile({naming.number(latency.percentile / 100)}, "
        f"sum by (job, le) (rate({latency.metric}_bucket{sel}[{latency.window}])))"))
    alert = Alert(naming.ALERT_API_LATENCY, f"{name} > {naming.number(latency.target)}", latency.for_,
                  latency_labels(latency), latency_annotations(budgets, latency, GoTemplate()))
    return recording, alert


def _error_ratio_rules(budgets: Budgets) -> list[Recording]:
    errors = error_rate_settings(budgets)
    all_requests = selector(equality(errors.selector))
    failed = selector([*equality(errors.selector), (errors.error_label, "=~", errors.error_regex)])
    rules: list[Recording] = []
    for window in error_ratio_windows(budgets):
        total = f"sum by (job) (rate({errors.metric}{all_requests}[{window}]))"
        # `or ... * 0`: a job without a single failure has a ratio of 0, not no ratio at all.
        rules.append(Recording(naming.service_error_ratio(window), (
            f"(sum by (job) (rate({errors.metric}{failed}[{window}])) or {total} * 0)\n/ {total}")))
    return rules


def _error_rate_alert(budgets: Budgets, errors: ErrorRateBudget) -> Alert:
    rule = naming.service_error_ratio(errors.window)
    return Alert(naming.ALERT_ERROR_RATE, f"{rule} > {naming.number(errors.target)}", errors.for_,
                 error_rate_labels(errors), error_rate_annotations(budgets, errors, GoTemplate()))


def _availability_alerts(budgets: Budgets, availability: AvailabilityBudget) -> list[Alert]:
    alerts: list[Alert] = []
    for burn in availability.burn_rates:
        threshold = naming.number(burn_threshold(availability, burn))
        expr = (f"{naming.service_error_ratio(burn.long_window)} > {threshold}\n"
                f"and on (job) {naming.service_error_ratio(burn.short_window)} > {threshold}")
        alerts.append(Alert(naming.ALERT_AVAILABILITY, expr, burn.for_, availability_labels(burn),
                            availability_annotations(budgets, availability, burn, GoTemplate())))
    return alerts


def rule_groups(budgets: Budgets) -> tuple[RuleGroup, ...]:
    """The SLI recording rules, then the alerts, of the service budgets that are on."""
    recordings: list[Recording] = []
    alerts: list[Alert] = []
    service = budgets.service
    if service.latency is not None:
        recording, alert = _latency_rules(budgets, service.latency)
        recordings.append(recording)
        alerts.append(alert)
    recordings += _error_ratio_rules(budgets)
    if service.error_rate is not None:
        alerts.append(_error_rate_alert(budgets, service.error_rate))
    if service.availability is not None:
        alerts += _availability_alerts(budgets, service.availability)
    return RuleGroup(SLI_GROUP, tuple(recordings)), RuleGroup(BUDGETS_GROUP, tuple(alerts))
