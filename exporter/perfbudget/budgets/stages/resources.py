"""Stage 4: resource budgets per node_exporter instance: CPU busy, memory in use, disk space used.

One table, `RESOURCE_RULES`, says what each budget records and alerts on; the dashboards and the rule
tests read the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import naming
from ..model import Budgets, ResourceBudgets
from ..rulefmt import Alert, Recording, RuleGroup
from ..templating import GoTemplate, Render, format_value

SLI_GROUP = "perfbudget-resources-sli"
BUDGETS_GROUP = "perfbudget-resources-budgets"
# In-memory and read-only image filesystems say nothing about the disk (a squashfs is always 100% used).
_IGNORED_FILESYSTEMS = "tmpfs|ramfs|overlay|squashfs|nsfs"


@dataclass(frozen=True, slots=True)
class ResourceRule:
    """One node_exporter budget: its recording rule, alert name, labels and what it measures."""

    metric: str
    budget: str
    alert: str
    record: str
    expr: str
    what: str


_FS = f'fstype!~"{_IGNORED_FILESYSTEMS}",mountpoint!=""'
RESOURCE_RULES: dict[str, ResourceRule] = {
    "cpu_percent": ResourceRule(
        naming.METRIC_CPU, naming.BUDGET_CPU, naming.ALERT_CPU, naming.RESOURCE_CPU_RULE,
        '1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[5m]))', "CPU busy"),
    "memory_percent": ResourceRule(
        naming.METRIC_MEMORY, naming.BUDGET_MEMORY, naming.ALERT_MEMORY, naming.RESOURCE_MEMORY_RULE,
        "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "memory in use"),
    "disk_percent": ResourceRule(
        naming.METRIC_DISK, naming.BUDGET_DISK, naming.ALERT_DISK, naming.RESOURCE_DISK_RULE,
        f"1 - node_filesystem_avail_bytes{{{_FS}}} / node_filesystem_size_bytes{{{_FS}}}", "disk space used"),
}


def resource_thresholds(resources: ResourceBudgets) -> dict[str, float]:
    """Key -> threshold ratio, for the resource budgets that are on."""
    values = {"cpu_percent": resources.cpu_percent, "memory_percent": resources.memory_percent,
              "disk_percent": resources.disk_percent}
    return {key: round(value / 100, 12) for key, value in values.items() if value is not None}


def resource_labels(resources: ResourceBudgets, rule: ResourceRule) -> dict[str, str]:
    return naming.alert_labels(resources.severity, rule.metric, rule.budget)


def resource_annotations(budgets: Budgets, rule: ResourceRule, threshold: float, r: Render) -> dict[str, str]:
    where = r.label("instance") + (f" {r.label('mountpoint')}" if rule.metric == naming.METRIC_DISK else "")
    return {
        "summary": f"{rule.what.capitalize()} is over its budget on {where}",
        "description": (f"{rule.what.capitalize()} on {where} is {r.value('percentage')}, above the budget of "
                        f"{format_value('percentage', threshold)}."),
        "dashboard": naming.dashboard_url(budgets.grafana_url, "service-budgets"),
        "runbook_url": naming.runbook_url(budgets.exporter_url, rule.metric),
    }


def rule_groups(budgets: Budgets) -> tuple[RuleGroup, ...]:
    """A recording rule and an alert for each resource budget that is on."""
    resources = budgets.resources
    recordings: list[Recording] = []
    alerts: list[Alert] = []
    for key, threshold in resource_thresholds(resources).items():
        rule = RESOURCE_RULES[key]
        recordings.append(Recording(rule.record, rule.expr))
        alerts.append(Alert(rule.alert, f"{rule.record} > {naming.number(threshold)}", resources.for_,
                            resource_labels(resources, rule),
                            resource_annotations(budgets, rule, threshold, GoTemplate())))
    return RuleGroup(SLI_GROUP, tuple(recordings)), RuleGroup(BUDGETS_GROUP, tuple(alerts))
