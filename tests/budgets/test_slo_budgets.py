"""Objectives on a vital's good share ("75 % of page loads at or under 2.5 s over 28 days"): the budgets file's
`objectives:`, the burn-rate rules stage `vitals_slo` builds, and its `promtool test rules` cases run by the
real promtool (one per burn window, within the objective, under min_samples, under min_clients)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfbudget.budgets import naming
from perfbudget.budgets.alertmanager import alertmanager_config
from perfbudget.budgets.burn_rates import workbook_burn_rates
from perfbudget.budgets.dashboards import dashboards
from perfbudget.budgets.generate import generate_files, rule_files
from perfbudget.budgets.model import Budgets, load_budgets
from perfbudget.budgets.rulefmt import Alert, Recording
from perfbudget.budgets.stages import vitals_slo
from perfbudget.config import ConfigError
from perfbudget.reload import histogram_edges

from .golden_files import GOLDEN, run_stage, stage_inputs

PROMTOOL = shutil.which("promtool")
LCP_75 = {"metric": "LCP", "objective": "75%", "threshold": "2.5s"}


@pytest.mark.parametrize("source", stage_inputs("vitals_slo"), ids=lambda p: p.stem)
def test_the_stage_reproduces_its_golden_files(source: Path) -> None:
    actual, expected = run_stage(vitals_slo.rule_groups, source)
    assert actual == expected


def _rules(budgets: Budgets) -> tuple[dict[str, str], list[Alert]]:
    sli, alerts = vitals_slo.rule_groups(budgets)
    assert (sli.name, alerts.name) == ("perfbudget-web-vitals-objectives-sli", "perfbudget-web-vitals-objectives")
    return ({rule.record: rule.expr for rule in sli.rules if isinstance(rule, Recording)},
            [rule for rule in alerts.rules if isinstance(rule, Alert)])


# --- the budgets file -------------------------------------------------------------------------------

@pytest.mark.parametrize(("written", "ratio"), [(0.75, 0.75), ("75%", 0.75), ("97.5 %", 0.975), ("99.9%", 0.999)])
def test_an_objective_is_a_ratio_or_a_percentage(make_budgets: Callable[..., Budgets], written: Any,
                                                 ratio: float) -> None:
    objective = make_budgets(objectives=[{**LCP_75, "objective": written}]).objectives[0]
    assert (objective.objective, objective.threshold, objective.window) == (ratio, 2.5, "28d")


@pytest.mark.parametrize(("written", "base"), [(2500, 2.5), ("2500ms", 2.5), ("2.5s", 2.5)])
def test_a_threshold_is_read_like_a_target(make_budgets: Callable[..., Budgets], written: Any, base: float) -> None:
    assert make_budgets(objectives=[{**LCP_75, "threshold": written}]).objectives[0].threshold == base


@pytest.mark.parametrize(("entry", "error"), [
    ({"objective": 75}, "objectives[0].objective: 75: must be between 0 and 1 exclusive (a ratio such as 0.75) "
                        "or a percentage such as '75%' (a bare 75 is ambiguous)"),
    ({"objective": "most"}, "objectives[0].objective: 'most': must be a ratio such as 0.75 or a percentage such "
                            "as '75%'"),
    ({"objective": "100%"}, "objectives[0].objective: '100%': must be between 0 and 1 exclusive"),
    ({"threshold": "fast"}, "objectives[0].threshold: 'fast': 'fast' is not a duration like 2500ms or 2.5s"),
    ({"threshold": "900s"}, "threshold 900000ms is beyond what LCP can measure (600000ms)"),
    ({"window": "a month"}, "objectives[0].window: 'a month': must be a Prometheus duration"),
    ({"device": "watch"}, "objectives[0].device: 'watch': must be one of phone, tablet, desktop, unknown"),
    ({"route": "/a(?=b)"}, "objectives[0].route: '/a(?=b)': regex '/a(?=b)' uses lookaround"),
    ({"target": 2500}, "objectives[0].target: 2500: unknown key"),
])
def test_a_bad_objective_is_refused_naming_the_file_and_the_key(
        write_budgets: Callable[..., Path], entry: dict[str, Any], error: str) -> None:
    path = write_budgets({"objectives": [{**LCP_75, **entry}]})
    with pytest.raises(ConfigError) as info:
        load_budgets(path, env={})
    (line,) = info.value.errors
    assert line.startswith(f"{path}: objectives[0]") and error in line, line


def test_a_given_burn_rate_the_objective_cannot_reach_is_refused_with_the_fastest_it_can(
        write_budgets: Callable[..., Path]) -> None:
    path = write_budgets({"objectives": [{**LCP_75, "burn_rates": [
        {"burn_rate": 3, "long_window": "1d", "short_window": "2h", "severity": "warning"},
        {"burn_rate": 6, "long_window": "6h", "short_window": "30m", "severity": "critical"}]}]})
    with pytest.raises(ConfigError) as info:
        load_budgets(path, env={})
    (line,) = info.value.errors
    assert line.startswith(f"{path}: objectives[0]: ")
    assert line.endswith("burn_rates[1]: 6x can never fire: it needs more than 150% of page loads over the "
                         "threshold, and with an objective of 75% the error budget (25%) burns at most 4x")


def test_an_objective_and_a_budget_cannot_share_a_budget_label(write_budgets: Callable[..., Path]) -> None:
    path = write_budgets({"vitals": [{"metric": "LCP", "target": 2500, "name": "lcp-slo-75"}],
                          "objectives": [LCP_75]})
    with pytest.raises(ConfigError) as info:
        load_budgets(path, env={})
    assert info.value.errors == [f"{path}: objectives[0]: budget name 'lcp-slo-75' is also the name of vitals[0]; "
                                 "give one a distinct 'name'"]


def test_the_threshold_becomes_a_bucket_edge_so_the_good_share_is_exact(make_budgets: Callable[..., Budgets]) -> None:
    plain = histogram_edges(make_budgets())["LCP"]
    assert 2.3 not in plain
    budgets = make_budgets(objectives=[{**LCP_75, "threshold": "2.3s"}])
    assert 2.3 in histogram_edges(budgets)["LCP"]
    records, _ = _rules(budgets)
    ratio = records["route_device:perfbudget_lcp_seconds:error_ratio_le2_3_1d"]
    assert 'perfbudget_lcp_seconds_bucket{le="2.3"}' in ratio


def test_the_workbook_tiers_keep_their_windows_and_scale_the_burn_rate_to_the_window() -> None:
    assert [(b.burn_rate, b.long_window, b.short_window, b.severity) for b in workbook_burn_rates("30d")] == [
        (14.4, "1h", "5m", "critical"), (6.0, "6h", "30m", "critical"),
        (3.0, "1d", "2h", "warning"), (1.0, "3d", "6h", "warning")]
    assert [round(b.burn_rate, 4) for b in workbook_burn_rates("28d")] == [13.44, 5.6, 2.8, 0.9333]


def test_tiers_an_objective_cannot_burn_that_fast_are_left_out(make_budgets: Callable[..., Budgets]) -> None:
    loose, strict = make_budgets(objectives=[LCP_75, {**LCP_75, "objective": "99%"}]).objectives
    # 75 %: every page load over 2.5 s burns the 25 % error budget at 4x, so 13.44x and 5.6x could never fire.
    assert loose.max_burn_rate == 4
    assert [b.long_window for b in loose.alerting_burn_rates] == ["1d", "3d"]
    assert [round(b.burn_rate, 2) for b in loose.unreachable_burn_rates] == [13.44, 5.6]
    assert [b.long_window for b in strict.alerting_burn_rates] == ["1h", "6h", "1d", "3d"]
    assert strict.unreachable_burn_rates == []


def test_the_exporter_counts_distinct_clients_over_every_long_burn_window(
        make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(vitals=[{"metric": "LCP", "target": 2500, "window": "1d"}],
                           objectives=[{**LCP_75, "objective": "97.5%"}])
    assert budgets.client_windows() == ["1d", "1h", "6h", "3d"]


# --- the rules --------------------------------------------------------------------------------------

def test_a_burn_rate_alert_reads_both_windows_over_one_threshold_with_both_guards(
        make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(objectives=[{**LCP_75, "objective": "97.5%", "window": "30d", "route": "/products/.*",
                                        "device": "phone"}])
    _, alerts = _rules(budgets)
    page = alerts[0]
    scope = '{route=~"/products/.*",device="phone"}'
    assert page.expr == (
        "(\n"
        f"route_device:perfbudget_lcp_seconds:error_ratio_le2_5_1h{scope} > 0.36\n"
        f"and on (route, device, site) route_device:perfbudget_lcp_seconds:error_ratio_le2_5_5m{scope} > 0.36\n"
        f"and on (route, device, site) route_device:perfbudget_lcp_seconds_count:increase1h{scope} >= 50\n"
        'and on (route) max by (route) (perfbudget_route_distinct_clients{window="1h"}) >= 5\n'
        ")\n"
        "* on (route, device, site) group_left (cause) (\n"
        "  0 * route_device:perfbudget_lcp_subpart_seconds:dominant_p75_1h + 1\n"
        "  or on (route, device, site)\n"
        f'  label_replace(0 * route_device:perfbudget_lcp_seconds:error_ratio_le2_5_1h{scope} + 1, "cause", "unknown", '
        '"", "")\n'
        ")")
    assert dict(page.labels) == {"severity": "critical", "metric": "LCP", "budget": "lcp-slo-97_5-phone-products",
                                 "long_window": "1h", "short_window": "5m"}
    assert page.annotations["runbook_url"] == "http://127.0.0.1:9478/api/perf-fix?metric=LCP"
    assert [(a.labels["severity"], a.labels["long_window"], a.expr.split(" > ")[1].split("\n")[0]) for a in alerts] == [
        ("critical", "1h", "0.36"), ("critical", "6h", "0.15"), ("warning", "1d", "0.075"), ("warning", "3d", "0.025")]


def test_the_error_ratio_is_recorded_once_per_window_and_threshold_from_the_raw_histogram(
        make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(vitals=[{"metric": "LCP", "target": 2500}],
                           objectives=[{**LCP_75, "objective": "99%"}, {**LCP_75, "objective": "97.5%", "name": "b"}])
    records, _ = _rules(budgets)
    ratios = [name for name in records if ":error_ratio_" in name]
    assert ratios == [f"route_device:perfbudget_lcp_seconds:error_ratio_le2_5_{w}"
                      for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")]
    assert records[ratios[0]] == (
        '1 - sum by (route, device, site) (increase(perfbudget_lcp_seconds_bucket{le="2.5"}[5m]))\n'
        "/ sum by (route, device, site) (increase(perfbudget_lcp_seconds_count[5m]))")
    # The 1h count is stage 1's (the budget's window): recorded once in the rule file, not twice.
    counts = [name for name in records if name.endswith(("_count:increase1h", "_count:increase6h"))]
    assert counts == ["route_device:perfbudget_lcp_seconds_count:increase6h"]
    web = rule_files(budgets)[0]
    names = [rule.record for group in web.groups for rule in group.rules if isinstance(rule, Recording)]
    assert len(names) == len(set(names))


def test_without_guards_an_alert_reads_the_two_windows_alone(make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(objectives=[{**LCP_75, "min_samples": 0, "min_clients": 0}])
    records, alerts = _rules(budgets)
    assert alerts[0].expr.startswith(
        "(\nroute_device:perfbudget_lcp_seconds:error_ratio_le2_5_1d > 0.7\n"
        "and on (route, device, site) route_device:perfbudget_lcp_seconds:error_ratio_le2_5_2h > 0.7\n)\n")
    assert not [name for name in records if ":increase" in name]


def test_every_objective_alert_severity_has_an_alertmanager_route(make_budgets: Callable[..., Budgets]) -> None:
    budgets = load_budgets(GOLDEN / "in-objectives.yaml", env={})
    routed = {matcher for route in alertmanager_config(budgets)["route"]["routes"] for matcher in route["matchers"]}
    _, alerts = _rules(budgets)
    assert {f'severity="{alert.labels["severity"]}"' for alert in alerts} <= routed
    assert {alert.labels["severity"] for alert in alerts} == {"critical", "warning"}


def test_no_objective_adds_no_rule(make_budgets: Callable[..., Budgets]) -> None:
    assert _rules(make_budgets(vitals=[{"metric": "LCP", "target": 2500}])) == ({}, [])


def test_the_web_vitals_dashboard_draws_each_objective_only_when_there_are_some(
        make_budgets: Callable[..., Budgets]) -> None:
    plain = dashboards(make_budgets(), "header")["web-vitals"]
    assert not [p for p in plain["panels"] if p["title"].startswith("Objectives")]
    budgets = make_budgets(objectives=[{**LCP_75, "route": "/checkout"}])
    panels = {p["title"]: p for p in dashboards(budgets, "header")["web-vitals"]["panels"]}
    assert "Objectives: the good share against each objective, the error budget left" in panels
    share = panels["lcp-slo-75-checkout: LCP good share against 75%"]
    assert [t["legendFormat"] for t in share["targets"]] == ["good share", "good share over 1d", "objective 75%"]
    assert share["targets"][1]["expr"] == (
        'sum(increase(perfbudget_lcp_seconds_bucket{le="2.5",route=~"/checkout",route=~"$route",device=~"$device",'
        'site=~"$site"}'
        "[1d]))\n"
        '/ sum(increase(perfbudget_lcp_seconds_count{route=~"/checkout",route=~"$route",device=~"$device",'
        'site=~"$site"}[1d]))')
    left = panels["lcp-slo-75-checkout: error budget left over 28d"]
    assert left["targets"][0]["expr"].startswith("1 - (1 - (sum(increase(perfbudget_lcp_seconds_bucket{le=\"2.5\"")
    assert left["targets"][0]["expr"].endswith("[28d])))) / 0.25")
    assert left["fieldConfig"]["defaults"]["unit"] == "percentunit"


# --- promtool ---------------------------------------------------------------------------------------

def _objective_rule_tests(tmp_path: Path, budgets: Budgets, rules_text: Callable[[str], str] = str) -> Path:
    """The generated web-vitals rules (through `rules_text`) and their objective cases only, written out."""
    files = {f.path: f.text for f in generate_files(budgets, "test")}
    rules = tmp_path / naming.RULES_DIR / "web-vitals.yml"
    rules.parent.mkdir(parents=True)
    rules.write_text(rules_text(files[f"{naming.RULES_DIR}/web-vitals.yml"]))
    tests = yaml.safe_load(files[f"{naming.RULE_TESTS_DIR}/web-vitals.yml"])
    tests["tests"] = [case for case in tests["tests"] if case["name"].startswith(naming.ALERT_VITAL_OBJECTIVE)]
    path = tmp_path / naming.RULE_TESTS_DIR / "web-vitals.yml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    return path


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_promtool_fires_each_burn_window_and_stays_quiet_within_the_objective_and_under_the_guards(
        tmp_path: Path) -> None:
    budgets = load_budgets(GOLDEN / "in-objectives.yaml", env={})
    tests = _objective_rule_tests(tmp_path, budgets)
    cases = [case["name"] for case in yaml.safe_load(tests.read_text())["tests"]]
    burns = [b for o in budgets.objectives for b in o.alerting_burn_rates]
    assert sum(" over " in name and ": a" in name for name in cases) == len(burns) == 9
    assert sum("a slow burn" in name for name in cases) == sum("a fast burn" in name for name in cases) == 3
    assert sum("quiet within the objective" in name for name in cases) == 3
    assert sum("quiet under 50 page loads" in name for name in cases) == 3
    assert sum("distinct clients (forged beacons)" in name for name in cases) == 3
    rules = tmp_path / naming.RULES_DIR / "web-vitals.yml"
    checked = _promtool("check", "rules", "--lint=all", "--lint-fatal", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = _promtool("test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_the_promtool_cases_catch_a_wrong_threshold_and_a_missing_clients_guard(tmp_path: Path) -> None:
    budgets = load_budgets(GOLDEN / "vitals_slo" / "in-workbook.yaml", env={})

    def broken(text: str) -> str:
        assert text.count("error_ratio_le2_5_1d > 0.7\n") == 1
        text = text.replace("error_ratio_le2_5_1d > 0.7\n", "error_ratio_le2_5_1d > 0.9\n")
        lines = text.splitlines(keepends=True)
        kept = [line for line in lines if 'perfbudget_route_distinct_clients{window="3d"}' not in line]
        assert len(lines) - len(kept) == 2  # the 3d/6h ticket of both objectives
        return "".join(kept)

    result = _promtool("test", "rules", str(_objective_rule_tests(tmp_path, budgets, broken)))
    assert result.returncode == 1
    failed = [line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip().startswith("name:")]
    assert failed == [
        "name: WebVitalsErrorBudgetBurn lcp-slo-75 2.8x over 1d/2h: a fast burn of 85% over the threshold fires, "
        "resolves when page loads are good again,",
        "name: WebVitalsErrorBudgetBurn lcp-slo-75: quiet with fewer than 5 distinct clients (forged beacons),",
        "name: WebVitalsErrorBudgetBurn inp-slo-97_5-phone-checkout: quiet with fewer than 5 distinct clients "
        "(forged beacons),",
    ], result.stdout
