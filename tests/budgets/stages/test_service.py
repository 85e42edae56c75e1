"""Stage 3, service budgets: the latency quantile, one error ratio per window, multiwindow burn-rate alerts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from perfbudget.budgets import naming
from perfbudget.budgets.model import Budgets
from perfbudget.budgets.rulefmt import Alert, Recording
from perfbudget.budgets.stages import service

from ..golden_files import run_stage, stage_inputs

OFF = {"latency": None, "error_rate": None, "availability": None}


@pytest.mark.parametrize("source", stage_inputs("service"), ids=lambda p: p.stem)
def test_the_stage_reproduces_its_golden_files(source: Path) -> None:
    actual, expected = run_stage(service.rule_groups, source)
    assert actual == expected


def _rules(budgets: Budgets) -> tuple[dict[str, str], list[Alert]]:
    sli, alerts = service.rule_groups(budgets)
    assert (sli.name, alerts.name) == ("perfbudget-service-sli", "perfbudget-service-budgets")
    return ({rule.record: rule.expr for rule in sli.rules if isinstance(rule, Recording)},
            [rule for rule in alerts.rules if isinstance(rule, Alert)])


def test_the_latency_quantile_is_per_job_over_the_selected_series_sorted_by_label(
        make_budgets: Callable[..., Budgets]) -> None:
    latency = {"target": "300ms", "selector": {"service": "shop", "job": "api"}}
    budgets = make_budgets(service={**OFF, "latency": latency})
    records, (alert,) = _rules(budgets)
    assert records == {"job:http_server_request_duration_seconds:p95_rate5m": (
        "histogram_quantile(0.95, sum by (job, le) "
        '(rate(http_server_request_duration_seconds_bucket{job="api",service="shop"}[5m])))')}
    assert alert.expr == "job:http_server_request_duration_seconds:p95_rate5m > 0.3"
    assert dict(alert.labels) == {"severity": "warning", "metric": "api_latency", "budget": "api-latency"}


def test_a_job_without_failures_has_an_error_ratio_of_zero_not_none(make_budgets: Callable[..., Budgets]) -> None:
    records, _ = _rules(make_budgets(service={**OFF, "error_rate": {}}))
    total = "sum by (job) (rate(http_server_request_duration_seconds_count[5m]))"
    assert records == {"job:http_server_requests:error_ratio_rate5m": (
        "(sum by (job) (rate(http_server_request_duration_seconds_count{http_response_status_code=~\"5..\"}[5m]))"
        f" or {total} * 0)\n/ {total}")}


def test_each_error_ratio_window_is_recorded_once_shortest_first(make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(service={**OFF, "error_rate": {"window": "30m"}, "availability": {}})
    assert service.error_ratio_windows(budgets) == ["5m", "30m", "1h", "6h", "3d"]
    records, _ = _rules(budgets)
    assert list(records) == [naming.service_error_ratio(w) for w in ("5m", "30m", "1h", "6h", "3d")]


def test_the_availability_objective_counts_failures_the_default_way_without_an_error_rate_budget(
        make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(service={**OFF, "availability": {}})
    assert service.error_rate_settings(budgets).error_regex == "5.."
    _, alerts = _rules(budgets)
    assert [a.alert for a in alerts] == [naming.ALERT_AVAILABILITY] * 3


def test_a_burn_rate_alert_needs_both_windows_over_the_same_threshold(make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(service={**OFF, "availability": {"objective": 99.5, "burn_rates": [
        {"burn_rate": 14.4, "long_window": "1h", "short_window": "5m", "severity": "critical"}]}})
    availability = budgets.service.availability
    assert availability is not None
    assert service.burn_threshold(availability, availability.burn_rates[0]) == 0.072
    _, (alert,) = _rules(budgets)
    assert alert.expr == ("job:http_server_requests:error_ratio_rate1h > 0.072\n"
                          "and on (job) job:http_server_requests:error_ratio_rate5m > 0.072")
    assert dict(alert.labels) == {"severity": "critical", "metric": "availability", "budget": "availability",
                                  "long_window": "1h", "short_window": "5m"}


def test_the_error_rate_description_shows_the_regex_as_a_promql_string(make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(service={**OFF, "error_rate": {"error_regex": "5\\d\\d"}})
    _, (alert,) = _rules(budgets)
    assert 'http_response_status_code=~"5\\\\d\\\\d"' in alert.annotations["description"]


def test_no_service_budget_gives_empty_groups(make_budgets: Callable[..., Budgets]) -> None:
    assert _rules(make_budgets(service=OFF)) == ({}, [])
