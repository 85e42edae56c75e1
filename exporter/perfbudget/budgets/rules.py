"""Budgets -> Prometheus rules, in stages: SLI recording rules, then alerting rules on top of them.

Each Web Vitals budget owns the (route, device) pairs it applies to where no more specific budget does
(the same choice as `Budgets.budget_for`), so exactly one budget alert can fire for a pair. The alerts
read the recording rules, never the raw histograms, so a dashboard and an alert always show one number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..vitals import VITALS, Vital
from . import naming
from .model import (
    AvailabilityBudget,
    BeaconsStoppedAlert,
    Budgets,
    BurnRate,
    ErrorRateBudget,
    LatencyBudget,
    RegressionAlert,
    ResourceBudgets,
    VitalBudget,
    parse_duration,
)
from .templating import GoTemplate, Render, ValueKind, format_value

DASHBOARD_WINDOW = "1h"  # the window the dashboards' tables and stats read
DEFAULT_PERCENTILE = 75.0
_ROUTE_DEVICE = "on (route, device)"
_IGNORED_FILESYSTEMS = "tmpfs|ramfs|overlay|squashfs|nsfs"


@dataclass(frozen=True, slots=True)
class Recording:
    record: str
    expr: str

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "expr": self.expr}


@dataclass(frozen=True, slots=True)
class Alert:
    alert: str
    expr: str
    for_: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if parse_duration(self.for_) > 0:
            out["for"] = self.for_
        out["labels"] = dict(self.labels)
        out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True, slots=True)
class RuleGroup:
    name: str
    rules: tuple[Recording | Alert, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rules": [rule.to_dict() for rule in self.rules]}


@dataclass(frozen=True, slots=True)
class RuleFile:
    """One file under alertmanager/rules/, named `<stem>.yml`."""

    stem: str
    groups: tuple[RuleGroup, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"groups": [group.to_dict() for group in self.groups]}

    @property
    def alerts(self) -> list[Alert]:
        return [rule for group in self.groups for rule in group.rules if isinstance(rule, Alert)]


# --- PromQL text -------------------------------------------------------------------------------------

def string(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector(matchers: Iterable[tuple[str, str, str]]) -> str:
    """[('route', '=~', '/a.*')] -> '{route=~"/a.*"}'; '' when there are none."""
    parts = [f"{name}{op}{string(value)}" for name, op, value in matchers]
    return "{" + ",".join(parts) + "}" if parts else ""


def equality(labels: Mapping[str, str]) -> list[tuple[str, str, str]]:
    return [(name, "=", value) for name, value in sorted(labels.items())]


def scope(budget: VitalBudget) -> str:
    """The series a Web Vitals budget covers, as a label selector."""
    matchers: list[tuple[str, str, str]] = []
    if budget.route is not None:
        matchers.append(("route", "=~", budget.route))
    if budget.device is not None:
        matchers.append(("device", "=", budget.device))
    return selector(matchers)


def _by_duration(values: Iterable[str]) -> list[str]:
    return sorted(set(values), key=lambda w: (parse_duration(w), w))


# --- stage 1: Web Vitals SLI recording rules --------------------------------------------------------

def vital_windows(budgets: Budgets, vital: Vital) -> dict[str, list[float]]:
    """Window -> the percentiles recorded over it, for one vital (the dashboards' window always)."""
    out: dict[str, set[float]] = {DASHBOARD_WINDOW: {DEFAULT_PERCENTILE}}
    for budget in budgets.vitals:
        if budget.metric == vital.name:
            out.setdefault(budget.window, {DEFAULT_PERCENTILE}).add(budget.percentile)
    return {window: sorted(out[window]) for window in _by_duration(out)}


def vital_recording_rules(budgets: Budgets) -> RuleGroup:
    rules: list[Recording] = []
    for vital in VITALS.values():
        for window, percentiles in vital_windows(budgets, vital).items():
            buckets = naming.vital_bucket_increase(vital, window)
            count = naming.vital_count_increase(vital, window)
            rules.append(Recording(
                buckets, f"sum by (route, device, le) (increase({vital.metric}_bucket[{window}]))"))
            rules.append(Recording(count, f"sum by (route, device) (increase({vital.metric}_count[{window}]))"))
            for percentile in percentiles:
                rules.append(Recording(
                    naming.vital_quantile(vital, percentile, window),
                    f"histogram_quantile({naming.number(percentile / 100)}, {buckets})",
                ))
            rules.append(Recording(
                naming.vital_good_ratio(vital, window),
                f'sum without (le) ({buckets}{{le="{naming.le(vital.good)}"}})\n/ {count}',
            ))
    return RuleGroup("perfbudget-web-vitals-sli", tuple(rules))


# --- stage 2: Web Vitals alerts ---------------------------------------------------------------------

def value_kind(vital: Vital) -> ValueKind:
    return "duration" if vital.unit == "s" else "number"


def vital_labels(budget: VitalBudget, severity: str) -> dict[str, str]:
    return {"severity": severity, "metric": budget.metric, "budget": budget.budget_name}


def _vital_links(budgets: Budgets, budget: VitalBudget, r: Render) -> dict[str, str]:
    dashboard = naming.dashboard_url(budgets.grafana_url, "web-vitals")
    return {
        "dashboard": f"{dashboard}?var-route={r.query('route')}&var-device={r.query('device')}",
        "runbook_url": naming.runbook_url(budgets.exporter_url, budget.metric),
    }


def _min_samples_text(budget: VitalBudget) -> str:
    return f", at least {budget.min_samples} page loads" if budget.min_samples else ""


def budget_annotations(budgets: Budgets, budget: VitalBudget, r: Render) -> dict[str, str]:
    """Annotations of the budget-exceeded alert (Go templates or expanded, depending on `r`)."""
    vital = VITALS[budget.metric]
    kind = value_kind(vital)
    p = naming.percentile_tag(budget.percentile)
    where = f"{r.label('route')} ({r.label('device')})"
    return {
        "summary": f"{budget.metric} {p} is over its budget on {where}",
        "description": (
            f"{p} {budget.metric} over the last {budget.window} is {r.value(kind)} on {where}, above the "
            f"budget of {format_value(kind, budget.target)} (budget {budget.budget_name}"
            f"{_min_samples_text(budget)})."
        ),
        **_vital_links(budgets, budget, r),
    }


def regression_annotations(budgets: Budgets, budget: VitalBudget, regression: RegressionAlert,
                           r: Render) -> dict[str, str]:
    vital = VITALS[budget.metric]
    p = naming.percentile_tag(budget.percentile)
    where = f"{r.label('route')} ({r.label('device')})"
    return {
        "summary": f"{budget.metric} {p} regressed on {where}",
        "description": (
            f"{p} {budget.metric} over the last {budget.window} is {r.value(value_kind(vital))} on {where}, "
            f"{naming.number(regression.factor)} times or more what it was {regression.offset} earlier "
            f"(budget {budget.budget_name}, target {format_value(value_kind(vital), budget.target)})."
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


def budget_alert(budgets: Budgets, budget: VitalBudget) -> Alert:
    """p-percentile over the target, with enough page loads, on the pairs this budget owns."""
    vital = VITALS[budget.metric]
    quantile = naming.vital_quantile(vital, budget.percentile, budget.window)
    count = naming.vital_count_increase(vital, budget.window)
    expr = (f"{quantile}{scope(budget)} > {naming.number(budget.target)}"
            + _enough(budget, count) + _unless_overridden(budgets, budget, count))
    return Alert(naming.ALERT_VITAL_BUDGET, expr, budget.for_, vital_labels(budget, budget.severity),
                 budget_annotations(budgets, budget, GoTemplate()))


def regression_alert(budgets: Budgets, budget: VitalBudget, regression: RegressionAlert) -> Alert:
    """p-percentile `factor` times worse than `offset` earlier, with enough loads in both windows."""
    vital = VITALS[budget.metric]
    quantile = naming.vital_quantile(vital, budget.percentile, budget.window)
    count = naming.vital_count_increase(vital, budget.window)
    current = f"{quantile}{scope(budget)}"
    expr = (f"{current}\n> {naming.number(regression.factor)} * ({current} offset {regression.offset})"
            + _enough(budget, count) + _enough(budget, count, regression.offset)
            + _unless_overridden(budgets, budget, count))
    return Alert(naming.ALERT_VITAL_REGRESSION, expr, regression.for_, vital_labels(budget, regression.severity),
                 regression_annotations(budgets, budget, regression, GoTemplate()))


def beacons_stopped_labels(alert: BeaconsStoppedAlert) -> dict[str, str]:
    return {"severity": alert.severity, "metric": naming.METRIC_BEACONS, "budget": naming.BUDGET_BEACONS}


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


def web_vitals_rules(budgets: Budgets) -> RuleFile:
    groups = [vital_recording_rules(budgets)]
    groups.append(RuleGroup("perfbudget-web-vitals-budgets",
                            tuple(budget_alert(budgets, budget) for budget in budgets.vitals)))
    if budgets.regression is not None:
        regression = budgets.regression
        groups.append(RuleGroup("perfbudget-web-vitals-regressions",
                                tuple(regression_alert(budgets, budget, regression) for budget in budgets.vitals)))
    if budgets.beacons_stopped is not None:
        groups.append(RuleGroup("perfbudget-beacons", (beacons_stopped_alert(budgets, budgets.beacons_stopped),)))
    return RuleFile("web-vitals", tuple(group for group in groups if group.rules))


# --- service budgets: API latency, error rate, availability -----------------------------------------

def error_rate_settings(budgets: Budgets) -> ErrorRateBudget:
    """Where failed requests are counted (the availability objective uses the same SLI)."""
    return budgets.service.error_rate or ErrorRateBudget()


def service_labels(metric: str, budget: str, severity: str, **extra: str) -> dict[str, str]:
    return {"severity": severity, "metric": metric, "budget": budget, **extra}


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
    return round(burn.burn_rate * availability.error_budget, 12)


def error_ratio_windows(budgets: Budgets) -> list[str]:
    windows: list[str] = []
    if budgets.service.error_rate is not None:
        windows.append(budgets.service.error_rate.window)
    if budgets.service.availability is not None:
        for burn in budgets.service.availability.burn_rates:
            windows += [burn.long_window, burn.short_window]
    return _by_duration(windows)


def service_rules(budgets: Budgets) -> RuleFile:
    recordings: list[Recording] = []
    alerts: list[Alert] = []
    latency = budgets.service.latency
    if latency is not None:
        name = naming.service_latency_quantile(latency.metric, latency.percentile, latency.window)
        sel = selector(equality(latency.selector))
        recordings.append(Recording(name, (
            f"histogram_quantile({naming.number(latency.percentile / 100)}, "
            f"sum by (job, le) (rate({latency.metric}_bucket{sel}[{latency.window}])))")))
        alerts.append(Alert(naming.ALERT_API_LATENCY, f"{name} > {naming.number(latency.target)}", latency.for_,
                            service_labels(naming.METRIC_API_LATENCY, naming.BUDGET_API_LATENCY, latency.severity),
                            latency_annotations(budgets, latency, GoTemplate())))
    errors = error_rate_settings(budgets)
    all_requests = selector(equality(errors.selector))
    failed = selector([*equality(errors.selector), (errors.error_label, "=~", errors.error_regex)])
    for window in error_ratio_windows(budgets):
        total = f"sum by (job) (rate({errors.metric}{all_requests}[{window}]))"
        # `or ... * 0`: a job without a single failure has a ratio of 0, not no ratio at all.
        recordings.append(Recording(naming.service_error_ratio(window), (
            f"(sum by (job) (rate({errors.metric}{failed}[{window}])) or {total} * 0)\n/ {total}")))
    if budgets.service.error_rate is not None:
        rule = naming.service_error_ratio(errors.window)
        alerts.append(Alert(naming.ALERT_ERROR_RATE, f"{rule} > {naming.number(errors.target)}", errors.for_,
                            service_labels(naming.METRIC_ERROR_RATE, naming.BUDGET_ERROR_RATE, errors.severity),
                            error_rate_annotations(budgets, errors, GoTemplate())))
    availability = budgets.service.availability
    if availability is not None:
        for burn in availability.burn_rates:
            threshold = naming.number(burn_threshold(availability, burn))
            expr = (f"{naming.service_error_ratio(burn.long_window)} > {threshold}\n"
                    f"and on (job) {naming.service_error_ratio(burn.short_window)} > {threshold}")
            alerts.append(Alert(
                naming.ALERT_AVAILABILITY, expr, burn.for_,
                availability_labels(burn), availability_annotations(budgets, availability, burn, GoTemplate())))
    groups = (RuleGroup("perfbudget-service-sli", tuple(recordings)),
              RuleGroup("perfbudget-service-budgets", tuple(alerts)))
    return RuleFile("service", tuple(group for group in groups if group.rules))


def availability_labels(burn: BurnRate) -> dict[str, str]:
    return service_labels(naming.METRIC_AVAILABILITY, naming.BUDGET_AVAILABILITY, burn.severity,
                          long_window=burn.long_window, short_window=burn.short_window)


# --- resource budgets (node_exporter) ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ResourceRule:
    """One node_exporter budget: its recording rule, alert name, labels and what it measures."""

    metric: str
    alert: str
    record: str
    expr: str
    what: str


_FS = f'fstype!~"{_IGNORED_FILESYSTEMS}",mountpoint!=""'
RESOURCE_RULES: dict[str, ResourceRule] = {
    "cpu_percent": ResourceRule(
        naming.METRIC_CPU, naming.ALERT_CPU, naming.RESOURCE_CPU_RULE,
        '1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[5m]))', "CPU busy"),
    "memory_percent": ResourceRule(
        naming.METRIC_MEMORY, naming.ALERT_MEMORY, naming.RESOURCE_MEMORY_RULE,
        "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "memory in use"),
    "disk_percent": ResourceRule(
        naming.METRIC_DISK, naming.ALERT_DISK, naming.RESOURCE_DISK_RULE,
        f"1 - node_filesystem_avail_bytes{{{_FS}}} / node_filesystem_size_bytes{{{_FS}}}", "disk space used"),
}


def resource_thresholds(resources: ResourceBudgets) -> dict[str, float]:
    """Key -> threshold ratio, for the resource budgets that are on."""
    values = {"cpu_percent": resources.cpu_percent, "memory_percent": resources.memory_percent,
              "disk_percent": resources.disk_percent}
    return {key: round(value / 100, 12) for key, value in values.items() if value is not None}


def resource_labels(resources: ResourceBudgets, rule: ResourceRule) -> dict[str, str]:
    return service_labels(rule.metric, rule.metric, resources.severity)


def resource_annotations(budgets: Budgets, rule: ResourceRule, threshold: float, r: Render) -> dict[str, str]:
    where = r.label("instance") + (f" {r.label('mountpoint')}" if rule.metric == naming.METRIC_DISK else "")
    return {
        "summary": f"{rule.what.capitalize()} is over its budget on {where}",
        "description": (f"{rule.what.capitalize()} on {where} is {r.value('percentage')}, above the budget of "
                        f"{format_value('percentage', threshold)}."),
        "dashboard": naming.dashboard_url(budgets.grafana_url, "service-budgets"),
        "runbook_url": naming.runbook_url(budgets.exporter_url, rule.metric),
    }


def resource_rules(budgets: Budgets) -> RuleFile:
    resources = budgets.resources
    recordings: list[Recording] = []
    alerts: list[Alert] = []
    for key, threshold in resource_thresholds(resources).items():
        rule = RESOURCE_RULES[key]
        recordings.append(Recording(rule.record, rule.expr))
        alerts.append(Alert(rule.alert, f"{rule.record} > {naming.number(threshold)}", resources.for_,
                            resource_labels(resources, rule),
                            resource_annotations(budgets, rule, threshold, GoTemplate())))
    groups = (RuleGroup("perfbudget-resources-sli", tuple(recordings)),
              RuleGroup("perfbudget-resources-budgets", tuple(alerts)))
    return RuleFile("resources", tuple(group for group in groups if group.rules))


def rule_files(budgets: Budgets) -> list[RuleFile]:
    """Every rule file, in a fixed order."""
    return [web_vitals_rules(budgets), service_rules(budgets), resource_rules(budgets)]
