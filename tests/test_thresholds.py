"""The service thresholds: the budgets file, the guide's ALERT_THRESHOLD_* variables and the thresholds set by
API, in that order; the overrides file's validation; `prometheus.url` and its alias; the rules folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfbudget.budgets.generate import generate
from perfbudget.budgets.model import bundled_budgets_path, load_budgets
from perfbudget.budgets.overrides import (
    Override,
    Overrides,
    apply_overrides,
    read_overrides,
    threshold_number,
    write_overrides,
)
from perfbudget.budgets.publish import rule_texts, rules_dir_problem
from perfbudget.config import ConfigError, load_config
from perfbudget.thresholds import service_thresholds


def _config(tmp_path: Path, **sections: Any) -> Any:
    sections.setdefault("data_dir", str(tmp_path / "data"))
    path = tmp_path / "perfbudget.yml"
    path.write_text(yaml.safe_dump(sections))
    return load_config(path, env={})


def _override(alert_type: str, threshold: Any, severity: str | None = None, ident: str = "alert_1") -> Override:
    return Override.model_validate({"id": ident, "alert_type": alert_type, "threshold": threshold,
                                    "severity": severity, "created_at": "2026-01-01T00:00:00Z"})


def test_the_defaults_are_the_monitoring_guides(tmp_path: Path) -> None:
    thresholds = service_thresholds(_config(tmp_path), env={})
    values = {t.alert_type: (t.value, t.unit, t.source) for t in thresholds.all()}
    assert values == {
        "response_time": (200, "ms", "budgets"), "error_rate": (0.1, "percent", "budgets"),
        "uptime": (99.9, "percent", "budgets"), "cpu": (80, "percent", "budgets"),
        "memory": (85, "percent", "budgets"),
    }


def test_the_guides_environment_variables_override_the_budgets(tmp_path: Path) -> None:
    env = {"ALERT_THRESHOLD_RESPONSE_TIME": "300", "ALERT_THRESHOLD_ERROR_RATE": "0.5",
           "ALERT_THRESHOLD_CPU": "70", "ALERT_THRESHOLD_MEMORY": "90"}
    thresholds = service_thresholds(_config(tmp_path), env=env)
    assert thresholds.response_time.value == 300 and thresholds.response_time.source_detail == \
        "ALERT_THRESHOLD_RESPONSE_TIME"
    assert thresholds.error_rate.value == 0.5
    assert (thresholds.cpu.value, thresholds.cpu.source) == (70, "env")
    assert thresholds.memory.value == 90
    assert thresholds.uptime.source == "budgets"


def test_a_bad_environment_value_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        service_thresholds(_config(tmp_path), env={"ALERT_THRESHOLD_CPU": "lots"})
    assert caught.value.errors == ["environment ALERT_THRESHOLD_CPU: 'lots': is not a number (percent)"]


def test_a_threshold_set_by_api_wins_over_the_environment(tmp_path: Path) -> None:
    config = _config(tmp_path)
    write_overrides(tmp_path / "data" / "budgets.overrides.yaml",
                    Overrides((_override("cpu", 65, ident="alert_7"), _override("response_time", "0.25s"))))
    thresholds = service_thresholds(config, env={"ALERT_THRESHOLD_CPU": "70"})
    assert (thresholds.cpu.value, thresholds.cpu.source, thresholds.cpu.override_id) == (65, "api", "alert_7")
    assert thresholds.response_time.value == 250
    assert thresholds.memory.source == "budgets"


def test_breached_is_over_the_threshold_and_under_it_for_uptime(tmp_path: Path) -> None:
    thresholds = service_thresholds(_config(tmp_path), env={})
    assert thresholds.cpu.breached(80.5) and not thresholds.cpu.breached(80)
    assert thresholds.uptime.breached(99.8) and not thresholds.uptime.breached(99.95)


def test_a_budget_turned_off_keeps_the_guides_value_without_alerting(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("service:\n  latency: null\nresources:\n  cpu_percent: null\n")
    thresholds = service_thresholds(_config(tmp_path, budgets_file=str(budgets)), env={})
    assert (thresholds.response_time.value, thresholds.response_time.alerting) == (200, False)
    assert (thresholds.cpu.value, thresholds.cpu.source) == (80, "default")


@pytest.mark.parametrize(("alert_type", "value", "expected"), [
    ("response_time", 200, 200.0), ("response_time", "0.3s", 300.0), ("response_time", "150ms", 150.0),
    ("error_rate", 0.1, 0.1), ("error_rate", "0.5%", 0.5), ("cpu", 100, 100.0), ("uptime", "99.95", 99.95),
])
def test_thresholds_take_the_budgets_files_units(alert_type: str, value: Any, expected: float) -> None:
    assert threshold_number(alert_type, value) == expected


@pytest.mark.parametrize(("alert_type", "value", "message"), [
    ("cpu", 0, "0 is out of range: cpu takes more than 0% and at most 100%"),
    ("cpu", 101, "101 is out of range: cpu takes more than 0% and at most 100%"),
    ("uptime", 100, "100 is out of range: uptime takes more than 0% and less than 100%"),
    ("error_rate", 100, "100 is out of range: error_rate takes more than 0% and less than 100%"),
    ("response_time", -5, "-5 is out of range: response_time takes more than 0 ms and at most 600000 ms"),
    ("response_time", "80%", "'80%' is not a duration like 200, 200ms or 0.2s"),
    ("memory", "2s", "'2s' is not a percentage like 80 or 80%"),
    ("cpu", True, "must be a number (percent)"),
    ("cpu", float("nan"), "must be a finite number"),
    ("response_time", [200], "must be a number (milliseconds)"),
])
def test_a_threshold_out_of_its_range_or_unit_says_why(alert_type: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        threshold_number(alert_type, value)
    assert str(caught.value) == message


def test_the_overrides_file_is_validated_like_the_budgets_file(tmp_path: Path) -> None:
    path = tmp_path / "budgets.overrides.yaml"
    path.write_text("thresholds:\n- {id: alert_1, alert_type: cpu, threshold: 170, created_at: x}\n"
                    "- {id: alert_2, alert_type: memory, threshold: 90, created_at: x, colour: red}\n")
    with pytest.raises(ConfigError) as caught:
        read_overrides(path)
    assert f"{path}: thresholds[0].threshold: 170: 170 is out of range: cpu takes more than 0% and at most 100%" \
        in caught.value.errors
    assert any(e.startswith(f"{path}: thresholds[1].colour") for e in caught.value.errors), caught.value.errors


def test_two_thresholds_of_one_type_in_the_file_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "budgets.overrides.yaml"
    path.write_text("thresholds:\n- {id: alert_1, alert_type: cpu, threshold: 70, created_at: x}\n"
                    "- {id: alert_2, alert_type: cpu, threshold: 60, created_at: x}\n")
    with pytest.raises(ConfigError, match="two thresholds for cpu"):
        read_overrides(path)


def test_a_severity_is_refused_where_the_budgets_share_one() -> None:
    with pytest.raises(ValueError, match=r"resources\.severity"):
        _override("cpu", 70, severity="critical")
    with pytest.raises(ValueError, match="burn_rates"):
        _override("uptime", 99.5, severity="critical")


def test_writing_replaces_the_file_whole_and_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "o" / "budgets.overrides.yaml"
    overrides = Overrides((_override("cpu", 70),)).with_override(_override("cpu", 60, ident="alert_2"))
    write_overrides(path, overrides)
    assert read_overrides(path) == overrides
    assert [item.id for item in overrides.items] == ["alert_2"]
    assert [p.name for p in path.parent.iterdir()] == ["budgets.overrides.yaml"]  # no temporary left


def test_apply_overrides_changes_only_the_service_and_resource_values() -> None:
    budgets = load_budgets(None, env={})
    applied = apply_overrides(budgets, Overrides((_override("error_rate", 0.5), _override("response_time", 300,
                                                  "critical", "alert_2"), _override("uptime", 99.5, ident="alert_3"))))
    assert applied.service.error_rate is not None and applied.service.error_rate.target == 0.005
    assert applied.service.latency is not None and applied.service.latency.target == 0.3
    assert applied.service.latency.severity == "critical"
    assert applied.service.availability is not None and applied.service.availability.objective == 99.5
    assert applied.vitals == budgets.vitals and applied.resources == budgets.resources


def test_generate_with_the_overrides_file_names_it_and_changes_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "budgets.overrides.yaml"
    write_overrides(path, Overrides((_override("memory", 90),)))
    files = {f.path: f.text for f in generate(None, env={}, thresholds=path)}
    plain = {f.path: f.text for f in generate(None, env={})}
    resources = files["alertmanager/rules/resources.yml"]
    assert f"thresholds={path.as_posix()}" in resources.splitlines()[0]
    assert "instance:node_memory_utilisation:ratio > 0.9" in resources
    assert "instance:node_memory_utilisation:ratio > 0.85" in plain["alertmanager/rules/resources.yml"]


def test_the_rules_folder_must_be_configured_writable_and_not_the_bundled_one(tmp_path: Path) -> None:
    problem = rules_dir_problem(_config(tmp_path))
    assert problem is not None and "prometheus.rules_dir" in problem and "PrometheusRule" in problem
    bundled = bundled_budgets_path().parent
    assert "inside the installed perfbudget package" in str(
        rules_dir_problem(_config(tmp_path, prometheus={"rules_dir": str(bundled)})))
    assert "is not a directory" in str(rules_dir_problem(_config(tmp_path, prometheus={"rules_dir": "nowhere"})))
    folder = tmp_path / "rules"
    folder.mkdir()
    assert rules_dir_problem(_config(tmp_path, prometheus={"rules_dir": "rules"})) is None
    if os.geteuid() != 0:  # root writes anywhere
        folder.chmod(0o500)
        assert "is not writable" in str(rules_dir_problem(_config(tmp_path, prometheus={"rules_dir": "rules"})))


def test_the_rules_for_the_folder_are_the_generators_rule_files(tmp_path: Path) -> None:
    texts = rule_texts(_config(tmp_path), env={})
    files = {f.path: f.text for f in generate(None, env={})}
    assert texts == {path.removeprefix("alertmanager/rules/"): text for path, text in files.items()
                     if path.startswith("alertmanager/rules/") and "/tests/" not in path}


def test_prometheus_url_takes_its_environment_variable_and_the_older_name(tmp_path: Path) -> None:
    path = tmp_path / "perfbudget.yml"
    path.write_text(yaml.safe_dump({"actions": {"prometheus_url": "http://prom:9090/"}}))
    assert load_config(path, env={}).prometheus.url == "http://prom:9090"
    path.write_text("{}")
    assert load_config(path, env={"PERFBUDGET_PROMETHEUS_URL": "http://p:9090"}).prometheus.url == "http://p:9090"


def test_prometheus_url_and_its_older_name_set_differently_is_an_error_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "perfbudget.yml"
    path.write_text(yaml.safe_dump({"actions": {"prometheus_url": "http://a:9090"},
                                    "prometheus": {"url": "http://b:9090"}}))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.errors == [
        f"{path}: prometheus: {{'url': 'http://b:9090'}}: prometheus.url ('http://b:9090') and "
        "actions.prometheus_url ('http://a:9090', its older name) name different Prometheus servers: "
        "set prometheus.url only"]


@pytest.mark.parametrize("url", ["prom:9090", "ftp://prom", "http://prom:9090/?x=1"])
def test_a_prometheus_url_that_is_not_http_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="must be an http:// or https:// URL"):
        _config(tmp_path, prometheus={"url": url})
    with pytest.raises(ConfigError, match=r"actions\.prometheus_url .*must be an http"):
        _config(tmp_path, actions={"prometheus_url": url})
