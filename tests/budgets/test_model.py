"""The budgets file: defaults, units, env overrides, which budget owns a route, and every error exactly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from perfbudget.budgets.model import Budgets, load_budgets, parse_duration
from perfbudget.config import ConfigError

VALID: dict[str, Any] = {"vitals": [{"metric": "LCP", "target": 2500}]}


def test_the_bundled_budgets_load_with_google_targets_and_the_seed_service_budgets() -> None:
    budgets = load_budgets(env={})
    assert [(b.metric, b.target) for b in budgets.vitals][:5] == [
        ("LCP", 2.5), ("INP", 0.2), ("CLS", 0.1), ("FCP", 1.8), ("TTFB", 0.8)]
    assert budgets.service.latency is not None and budgets.service.latency.target == 0.2
    assert budgets.service.latency.percentile == 95
    assert budgets.service.error_rate is not None and budgets.service.error_rate.target == 0.001
    assert budgets.service.availability is not None and budgets.service.availability.error_budget == 0.001
    assert [(b.burn_rate, b.long_window, b.short_window) for b in budgets.service.availability.burn_rates] == [
        (14.4, "1h", "5m"), (6.0, "6h", "30m"), (1.0, "3d", "6h")]
    assert (budgets.resources.cpu_percent, budgets.resources.memory_percent) == (80, 85)


@pytest.mark.parametrize(("written", "seconds"), [(2500, 2.5), ("2.5s", 2.5), ("2500ms", 2.5), (200, 0.2)])
def test_timing_targets_are_read_in_milliseconds_or_with_a_unit(
        make_budgets: Callable[..., Budgets], written: Any, seconds: float) -> None:
    assert make_budgets(vitals=[{"metric": "LCP", "target": written}]).vitals[0].target == seconds


def test_the_env_overrides_change_the_service_and_resource_targets(make_budgets: Callable[..., Budgets]) -> None:
    env = {"ALERT_THRESHOLD_RESPONSE_TIME": "350", "ALERT_THRESHOLD_ERROR_RATE": "0.5",
           "ALERT_THRESHOLD_CPU": "90", "ALERT_THRESHOLD_MEMORY": "70"}
    budgets = make_budgets(env=env, **VALID)
    assert budgets.service.latency is not None and budgets.service.latency.target == 0.35
    assert budgets.service.error_rate is not None and budgets.service.error_rate.target == 0.005
    assert (budgets.resources.cpu_percent, budgets.resources.memory_percent) == (90, 70)


def test_an_env_override_that_is_not_a_number_is_an_error(write_budgets: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError) as info:
        load_budgets(write_budgets(VALID), env={"ALERT_THRESHOLD_CPU": "lots"})
    assert info.value.errors == ["environment ALERT_THRESHOLD_CPU: 'lots': is not a number (percent)"]


def test_the_most_specific_budget_owns_a_route_and_device(make_budgets: Callable[..., Budgets]) -> None:
    budgets = make_budgets(vitals=[
        {"metric": "LCP", "target": 2500},
        {"metric": "LCP", "target": 3000, "device": "phone"},
        {"metric": "LCP", "target": 2000, "route": "/products/.*", "device": "phone"},
    ])
    general, phone, products = budgets.vitals
    assert budgets.budget_for("LCP", "/checkout", "desktop") is general
    assert budgets.budget_for("LCP", "/checkout", "phone") is phone
    assert budgets.budget_for("LCP", "/products/:id", "phone") is products
    assert budgets.overriding(general) == [phone, products]
    assert budgets.overriding(phone) == [products]
    assert budgets.overriding(products) == []
    assert budgets.target_for("LCP", "/products/:id", "phone") == 2.0


@pytest.mark.parametrize(("value", "seconds"), [("5m", 300), ("1h30m", 5400), ("0s", 0), ("3d", 259200)])
def test_prometheus_durations_are_parsed(value: str, seconds: float) -> None:
    assert parse_duration(value) == seconds


# One valid file, one field changed per case, each with its exact message.
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("unknown key", {"vitals": [{"metric": "LCP", "target": 2500, "trget": 1}]},
     "vitals[0].trget: 1: unknown key (did you mean target?)"),
    ("unknown vital", {"vitals": [{"metric": "FID", "target": 100}]},
     "vitals[0].metric: 'FID': must be one of LCP, INP, CLS, FCP, TTFB"),
    ("missing target", {"vitals": [{"metric": "LCP"}]}, "vitals[0].target: required key is missing"),
    ("bad unit", {"vitals": [{"metric": "LCP", "target": "2.5 minutes"}]},
     "vitals[0]: {'metric': 'LCP', 'target': '2.5 minutes'}: '2.5 minutes' is not a duration like 2500ms or 2.5s"),
    ("negative target", {"vitals": [{"metric": "INP", "target": -5}]},
     "vitals[0].target: -0.005: must be > 0"),
    ("target beyond the vital", {"vitals": [{"metric": "CLS", "target": 500}]},
     "vitals[0]: {'metric': 'CLS', 'target': 500}: target 500 is beyond what CLS can measure (100)"),
    ("zero window", {"vitals": [{"metric": "LCP", "target": 2500, "window": "0s"}]},
     "vitals[0].window: '0s': must be longer than 0s"),
    ("units out of order", {"vitals": [{"metric": "LCP", "target": 2500, "window": "30m1h"}]},
     "vitals[0].window: '30m1h': must be a Prometheus duration like 5m, 1h or 1h30m (units from the largest down)"),
    ("bad window", {"vitals": [{"metric": "LCP", "target": 2500, "window": "an hour"}]},
     "vitals[0].window: 'an hour': must be a Prometheus duration like 5m, 1h or 1h30m (units from the largest down)"),
    ("bad device", {"vitals": [{"metric": "LCP", "target": 2500, "device": "watch"}]},
     "vitals[0].device: 'watch': must be one of phone, tablet, desktop, unknown"),
    ("route regex does not compile", {"vitals": [{"metric": "LCP", "target": 2500, "route": "/a(["}]},
     "vitals[0].route: '/a([': regex '/a([' does not compile: unterminated character set at position 3"),
    ("route regex not RE2", {"vitals": [{"metric": "LCP", "target": 2500, "route": "/(?!admin).*"}]},
     "vitals[0].route: '/(?!admin).*': regex '/(?!admin).*' uses lookaround or a backreference, which "
     "Prometheus (RE2) refuses"),
    ("bad budget name", {"vitals": [{"metric": "LCP", "target": 2500, "name": "Big LCP"}]},
     "vitals[0].name: 'Big LCP': must be lower-case letters, digits, '-' or '_' (it becomes the `budget` label)"),
    ("duplicate budget names", {"vitals": [{"metric": "LCP", "target": 2500}, {"metric": "LCP", "target": 3000}]},
     "vitals[1]: budget name 'lcp' is also the name of vitals[0]; give one a distinct 'name'"),
    ("percentile out of range", {"vitals": [{"metric": "LCP", "target": 2500, "percentile": 100}]},
     "vitals[0].percentile: 100: must be < 100"),
    ("negative min samples", {"vitals": [{"metric": "LCP", "target": 2500, "min_samples": -1}]},
     "vitals[0].min_samples: -1: must be >= 0"),
    ("bad severity", {"vitals": [{"metric": "LCP", "target": 2500, "severity": "page"}]},
     "vitals[0].severity: 'page': must be one of info, warning, critical"),
    ("error rate as a percentage", {"service": {"error_rate": {"target": 5}}},
     "service.error_rate.target: 5: must be < 1"),
    ("bad latency metric", {"service": {"latency": {"metric": "http.server.duration"}}},
     "service.latency.metric: 'http.server.duration': is not a Prometheus metric name"),
    ("bad selector label", {"service": {"latency": {"selector": {"service-name": "api"}}}},
     "service.latency.selector: {'service-name': 'api'}: 'service-name' is not a Prometheus label name"),
    ("burn windows swapped", {"service": {"availability": {"burn_rates": [
        {"burn_rate": 14.4, "long_window": "5m", "short_window": "1h", "severity": "critical"}]}}},
     "service.availability.burn_rates[0]: {'burn_rate': 14.4, 'long_window': '5m', 'severity': 'critical', "
     "'short_windo...: short_window 1h must be shorter than long_window 5m"),
    ("no burn rates", {"service": {"availability": {"burn_rates": []}}},
     "service.availability.burn_rates: []: must have at least 1 item"),
    ("cpu over 100 %", {"resources": {"cpu_percent": 120}},
     "resources.cpu_percent: 120: must be <= 100"),
    ("regression factor not above 1", {"regression": {"factor": 0.9}},
     "regression.factor: 0.9: must be > 1"),
    ("bad beacons-stopped window", {"beacons_stopped": {"window": "soon"}},
     "beacons_stopped.window: 'soon': must be a Prometheus duration like 5m, 1h or 1h30m "
     "(units from the largest down)"),
]


@pytest.mark.parametrize(("data", "message"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_an_invalid_budgets_file_names_the_key_the_value_and_the_problem(
        write_budgets: Callable[..., Path], data: dict[str, Any], message: str) -> None:
    path = write_budgets(data)
    with pytest.raises(ConfigError) as info:
        load_budgets(path, env={})
    assert info.value.errors == [f"{path}: {message}"]
