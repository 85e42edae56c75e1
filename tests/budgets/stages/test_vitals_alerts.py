"""Stage 2, Web Vitals alerts: which pairs each budget owns, the sample floor, regressions, beacons stopped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from perfbudget.budgets import naming
from perfbudget.budgets.model import Budgets, load_budgets
from perfbudget.budgets.rulefmt import Alert
from perfbudget.budgets.stages import vitals_alerts

from ..golden_files import run_stage, stage_inputs


@pytest.mark.parametrize("source", stage_inputs("vitals_alerts"), ids=lambda p: p.stem)
def test_the_stage_reproduces_its_golden_files(source: Path) -> None:
    actual, expected = run_stage(vitals_alerts.rule_groups, source)
    assert actual == expected


def condition(expr: str) -> str:
    """An LCP or INP alert's condition, without the `cause` join around it (stage vitals_causes)."""
    head, sep, _ = expr.partition("\n)\n* on (route, device, site) group_left (cause) (\n")
    assert sep and head.startswith("(\n"), expr
    return head[2:]


def _alerts(budgets: Budgets) -> list[Alert]:
    return [rule for group in vitals_alerts.rule_groups(budgets) for rule in group.rules if isinstance(rule, Alert)]


def test_a_general_budget_leaves_the_routes_of_a_more_specific_one_alone() -> None:
    alerts = _alerts(load_budgets(env={}))
    lcp = next(a for a in alerts if a.alert == naming.ALERT_VITAL_BUDGET and a.labels["budget"] == "lcp")
    assert lcp.expr == (
        "(\n"
        "route_device:perfbudget_lcp_seconds:p75_1h > 2.5\n"
        "and on (route, device, site) route_device:perfbudget_lcp_seconds_count:increase1h >= 50\n"
        'and on (route) max by (route) (perfbudget_route_distinct_clients{window="1h"}) >= 5\n'
        'unless on (route, device, site) route_device:perfbudget_lcp_seconds_count:increase1h{route=~"/products/.*",'
        'device="phone"}\n'
        ")\n"
        "* on (route, device, site) group_left (cause) (\n"
        "  0 * route_device:perfbudget_lcp_subpart_seconds:dominant_p75_1h + 1\n"
        "  or on (route, device, site)\n"
        '  label_replace(0 * route_device:perfbudget_lcp_seconds:p75_1h + 1, "cause", "unknown", "", "")\n'
        ")")
    assert dict(lcp.labels) == {"severity": "critical", "metric": "LCP", "budget": "lcp"}
    assert lcp.annotations["runbook_url"] == "http://127.0.0.1:9478/api/perf-fix?metric=LCP"


def test_a_budget_without_a_sample_floor_or_hold_time_alerts_on_the_quantile_alone(
        make_budgets: Callable[..., Budgets]) -> None:
    (alert,) = _alerts(make_budgets(vitals=[{"metric": "CLS", "target": 0.1, "min_samples": 0, "min_clients": 0,
                                             "for": "0s"}], regression=None, beacons_stopped=None))
    assert alert.expr == "route_device:perfbudget_cls:p75_1h > 0.1"
    assert "for" not in alert.to_dict()


def test_a_budget_fires_only_on_routes_with_min_clients_distinct_clients_in_its_window(
        make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(vitals=[{"metric": "CLS", "target": 0.1, "min_samples": 0, "min_clients": 12,
                                    "window": "30m"}], regression={"factor": 2, "offset": "1d"}, beacons_stopped=None)
    guard = 'and on (route) max by (route) (perfbudget_route_distinct_clients{window="30m"}) >= 12'
    budget, regression = _alerts(budgets)
    assert budget.expr == f"route_device:perfbudget_cls:p75_30m > 0.1\n{guard}"
    assert regression.expr.endswith(f"\n{guard}")
    assert budget.annotations["description"].endswith("(budget cls, at least 12 distinct clients).")


def test_a_regression_needs_enough_samples_now_and_offset_earlier(make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(vitals=[{"metric": "LCP", "target": 2500, "device": "phone", "min_samples": 20,
                                    "min_clients": 0}],
                           regression={"factor": 1.5, "offset": "7d"}, beacons_stopped=None)
    groups = vitals_alerts.rule_groups(budgets)
    assert [group.name for group in groups] == ["perfbudget-web-vitals-budgets", "perfbudget-web-vitals-regressions"]
    regression = next(a for a in _alerts(budgets) if a.alert == naming.ALERT_VITAL_REGRESSION)
    current = 'route_device:perfbudget_lcp_seconds:p75_1h{device="phone"}'
    count = 'route_device:perfbudget_lcp_seconds_count:increase1h{device="phone"}'
    assert condition(regression.expr) == (
        f"{current}\n> 1.5 * ({current} offset 7d)\n"
        f"and on (route, device, site) {count} >= 20\n"
        f"and on (route, device, site) {count} offset 7d >= 20")


def test_the_beacons_stopped_alert_compares_with_the_same_window_offset_earlier(
        make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(regression=None, beacons_stopped={"window": "1h", "offset": "1d"})
    (alert,) = _alerts(budgets)
    assert alert.alert == naming.ALERT_BEACONS_STOPPED
    assert alert.expr == (
        "sum by (job, instance) (increase(perfbudget_reports_accepted_total[1h])) == 0\n"
        "and on (job, instance) sum by (job, instance) (increase(perfbudget_reports_accepted_total[1h] offset 1d)) > 0")
    assert dict(alert.labels) == {"severity": "warning", "metric": "beacons", "budget": "beacons-stopped"}


def test_route_regexes_are_escaped_as_promql_strings(make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(vitals=[{"metric": "LCP", "target": 2500, "route": r"/docs/\d+"}])
    assert vitals_alerts.scope(budgets.vitals[0]) == '{route=~"/docs/\\\\d+"}'


def test_the_alerts_link_to_the_dashboard_of_the_pair_and_to_the_playbooks(
        make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(vitals=[{"metric": "INP", "target": 200}], grafana_url="https://grafana.example.com/")
    alert = _alerts(budgets)[0]
    assert alert.annotations["dashboard"] == (
        "https://grafana.example.com/d/perfbudget-web-vitals/web-vitals"
        "?var-route={{ $labels.route | urlquery }}&var-device={{ $labels.device | urlquery }}"
        "&var-site={{ $labels.site | urlquery }}")
    assert alert.annotations["runbook_url"] == "http://127.0.0.1:9478/api/perf-fix?metric=INP"
