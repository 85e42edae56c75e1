"""Stage 4, resource budgets: one recording rule and one alert per node_exporter budget that is on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from perfbudget.budgets import naming
from perfbudget.budgets.model import Budgets
from perfbudget.budgets.rulefmt import Alert, Recording
from perfbudget.budgets.stages import resources

from ..golden_files import run_stage, stage_inputs


@pytest.mark.parametrize("source", stage_inputs("resources"), ids=lambda p: p.stem)
def test_the_stage_reproduces_its_golden_files(source: Path) -> None:
    actual, expected = run_stage(resources.rule_groups, source)
    assert actual == expected


def _rules(budgets: Budgets) -> tuple[dict[str, str], list[Alert]]:
    sli, alerts = resources.rule_groups(budgets)
    assert (sli.name, alerts.name) == ("perfbudget-resources-sli", "perfbudget-resources-budgets")
    return ({rule.record: rule.expr for rule in sli.rules if isinstance(rule, Recording)},
            [rule for rule in alerts.rules if isinstance(rule, Alert)])


def test_only_the_budgets_that_are_on_get_rules(make_budgets: Callable[..., Budgets]) -> None:
    records, alerts = _rules(make_budgets(resources={"cpu_percent": None, "memory_percent": 70}))
    assert list(records) == [naming.RESOURCE_MEMORY_RULE, naming.RESOURCE_DISK_RULE]
    assert [a.alert for a in alerts] == [naming.ALERT_MEMORY, naming.ALERT_DISK]


def test_percent_budgets_become_ratio_thresholds_at_twelve_digits(make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(resources={"cpu_percent": 85.5, "memory_percent": None, "disk_percent": None})
    assert resources.resource_thresholds(budgets.resources) == {"cpu_percent": 0.855}
    _, (alert,) = _rules(budgets)
    assert alert.expr == "instance:node_cpu_utilisation:rate5m > 0.855"


def test_the_disk_budget_ignores_in_memory_and_image_filesystems_and_names_the_mountpoint(
        make_budgets: Callable[..., Budgets]) -> None:
    records, (alert,) = _rules(make_budgets(resources={"cpu_percent": None, "memory_percent": None}))
    assert 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs",mountpoint!=""' in records[naming.RESOURCE_DISK_RULE]
    assert alert.annotations["summary"] == (
        "Disk space used is over its budget on {{ $labels.instance }} {{ $labels.mountpoint }}")


def test_every_resource_alert_carries_the_shared_severity_and_hold_time(make_budgets: Callable[..., Budgets]) -> None:
    _, alerts = _rules(make_budgets(resources={"severity": "critical", "for": "15m"}))
    assert [(a.for_, dict(a.labels)) for a in alerts] == [
        ("15m", {"severity": "critical", "metric": metric, "budget": metric}) for metric in ("cpu", "memory", "disk")]


def test_no_resource_budget_gives_empty_groups(make_budgets: Callable[..., Budgets]) -> None:
    off = {"cpu_percent": None, "memory_percent": None, "disk_percent": None}
    assert _rules(make_budgets(resources=off)) == ({}, [])
