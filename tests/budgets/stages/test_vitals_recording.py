"""Stage 1, Web Vitals SLI recording rules: which windows and percentiles get recorded, and the rule text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from perfbudget.budgets.model import Budgets
from perfbudget.budgets.rulefmt import Recording
from perfbudget.budgets.stages import vitals_recording
from perfbudget.vitals import VITALS

from ..golden_files import run_stage, stage_inputs


@pytest.mark.parametrize("source", stage_inputs("vitals_recording"), ids=lambda p: p.stem)
def test_the_stage_reproduces_its_golden_files(source: Path) -> None:
    actual, expected = run_stage(vitals_recording.rule_groups, source)
    assert actual == expected


def _records(budgets: Budgets) -> dict[str, str]:
    (group,) = vitals_recording.rule_groups(budgets)
    assert group.name == "perfbudget-web-vitals-sli"
    assert all(isinstance(rule, Recording) for rule in group.rules)
    return {rule.record: rule.expr for rule in group.rules if isinstance(rule, Recording)}


def test_every_vital_is_recorded_over_the_dashboards_window_even_without_a_budget(
        make_budgets: Callable[..., Budgets]) -> None:
    records = _records(make_budgets())
    for vital in VITALS.values():
        assert f"route_device:{vital.metric}:p75_1h" in records
        assert f"route_device:{vital.metric}:good_ratio_1h" in records


def test_a_budget_adds_its_window_and_percentile_and_p75_comes_along(make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(vitals=[{"metric": "INP", "target": 200, "percentile": 90, "window": "30m"},
                                   {"metric": "INP", "name": "slow", "target": 500, "percentile": 99.9}])
    assert vitals_recording.vital_windows(budgets, VITALS["INP"]) == {"30m": [75.0, 90.0], "1h": [75.0, 99.9]}
    assert vitals_recording.vital_windows(budgets, VITALS["LCP"]) == {"1h": [75.0]}
    records = _records(budgets)
    assert records["route_device:perfbudget_inp_seconds:p99_9_1h"] == (
        "histogram_quantile(0.999, route_device_le:perfbudget_inp_seconds_bucket:increase1h)")


def test_windows_are_ordered_by_duration_not_by_text(make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(vitals=[{"metric": "LCP", "target": 2500, "window": window, "name": f"lcp-{window}"}
                                   for window in ("1d", "30m", "5m", "2h")])
    assert list(vitals_recording.vital_windows(budgets, VITALS["LCP"])) == ["5m", "30m", "1h", "2h", "1d"]


def test_the_good_ratio_reads_the_bucket_at_the_good_threshold_as_client_python_names_it(
        make_budgets: Callable[..., Budgets]) -> None:
    records = _records(make_budgets())
    assert records["route_device:perfbudget_lcp_seconds:good_ratio_1h"] == (
        'sum without (le) (route_device_le:perfbudget_lcp_seconds_bucket:increase1h{le="2.5"})\n'
        "/ route_device:perfbudget_lcp_seconds_count:increase1h")
    assert records["route_device:perfbudget_cls:good_ratio_1h"].startswith(
        'sum without (le) (route_device_le:perfbudget_cls_bucket:increase1h{le="0.1"})')


def test_the_increases_keep_route_and_device_and_the_buckets_keep_le(make_budgets: Callable[..., Budgets]) -> None:
    records = _records(make_budgets())
    assert records["route_device_le:perfbudget_ttfb_seconds_bucket:increase1h"] == (
        "sum by (route, device, site, le) (increase(perfbudget_ttfb_seconds_bucket[1h]))")
    assert records["route_device:perfbudget_ttfb_seconds_count:increase1h"] == (
        "sum by (route, device, site) (increase(perfbudget_ttfb_seconds_count[1h]))")
