"""POST /api/performance-alerts against a real `perfbudget serve` (two workers) and a real Prometheus that
loads its rule files from the exporter's rules folder (prometheus.rules_dir): the new threshold is in
Prometheus's /api/v1/rules, DELETE puts the budget back, `perfbudget generate` with the overrides file
writes the same rules; refusals (401, 400 naming the field, 409 without a rules folder)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .stack import PERFBUDGET, Server, exporter, free_port, http, kill_one_worker, prometheus, wait_for

pytestmark = pytest.mark.integration
TOKEN = "thresholds-test-token-0123456789"
READER = "thresholds-reader-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Stack:
    perfbudget: Server
    prometheus: Server
    rules_dir: Path
    data_dir: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("thresholds")
    rules_dir = tmp / "rules"
    rules_dir.mkdir()
    port = free_port()
    with prometheus(tmp / "prom", [f"127.0.0.1:{port}"], rule_files=[rules_dir / "*.yml"]) as prom:
        config = {
            "prometheus": {"url": prom.url, "rules_dir": str(rules_dir)},
            "auth": {"tokens": [{"name": "ops", "token": TOKEN, "scopes": ["reload", "read"]},
                                {"name": "reader", "token": READER, "scopes": ["read"]}]},
        }
        with exporter(tmp / "exporter", config=config, workers=2, port=port) as srv:
            yield Stack(srv, prom, rules_dir, tmp / "exporter" / "data")


def _alert_exprs(prom: Server) -> dict[str, list[str]]:
    """Alert name -> the expressions Prometheus evaluates for it now."""
    status, body = http("GET", f"{prom.url}/api/v1/rules?type=alert")
    assert status == 200, body
    exprs: dict[str, list[str]] = {}
    for group in body["data"]["groups"]:
        for rule in group["rules"]:
            exprs.setdefault(rule["name"], []).append(rule["query"])
    return exprs


def _post(srv: Server, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return http("POST", f"{srv.url}/api/performance-alerts", body, headers=AUTH if headers is None else headers)


def _listed(srv: Server) -> dict[str, Any]:
    status, body = http("GET", f"{srv.url}/api/performance-alerts")
    assert status == 200, body
    return {entry["id"]: entry for entry in body["data"]}


def test_serve_writes_the_rules_into_the_rules_folder_at_start(stack: Stack) -> None:
    """Before any POST or reload, the folder holds the rules of the budgets in force, and Prometheus has them."""
    written = sorted(path.name for path in stack.rules_dir.glob("*.yml"))
    assert "service.yml" in written and "web-vitals.yml" in written, written
    assert f"rules written to {stack.rules_dir}" in stack.perfbudget.output()
    wait_for(lambda: "APILatencyBudgetExceeded" in _alert_exprs(stack.prometheus), 30,
             what="Prometheus loading the rules perfbudget serve wrote at start")


def test_an_overrides_file_changed_on_disk_reaches_no_worker_without_a_reload(stack: Stack) -> None:
    """A respawned worker builds from the configuration snapshot: the thresholds in force, not the file.
    (Early in the module: no reload's rolling restart is under way.)"""
    overrides = stack.data_dir / "budgets.overrides.yaml"
    at_start = {path.name: path.read_text() for path in stack.rules_dir.iterdir()}  # written by serve at start
    overrides.write_text("thresholds:\n- id: alert_by_hand\n  alert_type: cpu\n  threshold: 60\n"
                         "  created_at: '2026-01-01T00:00:00Z'\n")
    try:
        kill_one_worker(stack.perfbudget)
        for _ in range(6):
            status, body = http("GET", f"{stack.perfbudget.url}/api/performance-alerts")
            assert status == 200, body
            assert body["data"] == [{**body["data"][0], "id": "alert_by_hand", "status": "pending"}]
            cpu = next(t for t in body["thresholds"] if t["type"] == "cpu")
            assert cpu["threshold"] == 80 and cpu["source"] == "budgets"
        # nor were the rules regenerated from it
        assert {path.name: path.read_text() for path in stack.rules_dir.iterdir()} == at_start
    finally:
        overrides.write_text("thresholds: []\n")


def test_a_threshold_set_by_api_reaches_the_real_prometheus_and_delete_restores_the_budget(stack: Stack) -> None:
    status, body = _post(stack.perfbudget, {"alertType": "cpu", "threshold": 70})
    assert status == 201, body
    assert body["success"] is True
    data = body["data"]
    assert data["type"] == "cpu" and data["threshold"] == 70 and data["status"] == "active"
    assert data["id"].startswith("alert_") and data["createdAt"].endswith("Z")
    assert data["rules"]["prometheusReloaded"] is True, data["rules"]
    assert sorted(data["rules"]["files"]) == sorted(p.name for p in stack.rules_dir.glob("*.yml"))

    exprs = wait_for(lambda: _alert_exprs(stack.prometheus).get("HostCPUBudgetExceeded"), 30,
                     what="Prometheus loads the CPU alert")
    assert exprs == ["instance:node_cpu_utilisation:rate5m > 0.7"]
    # Every worker, restarted on the new configuration, lists it as in force.
    wait_for(lambda: all(_listed(stack.perfbudget).get(data["id"], {}).get("status") == "active" for _ in range(6)),
             120, what="every worker has the threshold in force")

    status, deleted = http("DELETE", f"{stack.perfbudget.url}/api/performance-alerts/{data['id']}", headers=AUTH)
    assert status == 200, deleted
    assert deleted["data"]["status"] == "deleted"
    wait_for(lambda: _alert_exprs(stack.prometheus).get("HostCPUBudgetExceeded")
             == ["instance:node_cpu_utilisation:rate5m > 0.8"], 30, what="the budgets file's 80 % back")
    assert data["id"] not in _listed(stack.perfbudget)


def test_the_api_latency_threshold_and_its_severity_reach_prometheus(stack: Stack) -> None:
    status, body = _post(stack.perfbudget, {"alertType": "response_time", "threshold": "350ms",
                                            "severity": "critical"})
    assert status == 201, body
    assert body["data"]["threshold"] == 350

    def latency_rule() -> dict[str, Any] | None:
        _, rules = http("GET", f"{stack.prometheus.url}/api/v1/rules?type=alert")
        for group in rules["data"]["groups"]:
            for rule in group["rules"]:
                if rule["name"] == "APILatencyBudgetExceeded" and rule["query"].endswith("> 0.35"):
                    return rule  # type: ignore[no-any-return]
        return None

    rule = wait_for(latency_rule, 30, what="Prometheus loads the 350 ms latency alert")
    assert rule["labels"]["severity"] == "critical"
    http("DELETE", f"{stack.perfbudget.url}/api/performance-alerts/{body['data']['id']}", headers=AUTH)


def test_perfbudget_generate_with_the_overrides_file_writes_the_same_rules(stack: Stack, tmp_path: Path) -> None:
    status, body = _post(stack.perfbudget, {"alertType": "error_rate", "threshold": 0.5})
    assert status == 201, body
    overrides = stack.data_dir / "budgets.overrides.yaml"
    assert "error_rate" in overrides.read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERFBUDGET_", "ALERT_THRESHOLD_"))}
    result = subprocess.run([*PERFBUDGET, "generate", "--thresholds", str(overrides), "--output-dir", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    served = {p.name: p.read_text() for p in stack.rules_dir.glob("*.yml")}
    generated = {p.name: p.read_text() for p in (tmp_path / "alertmanager" / "rules").glob("*.yml")}
    assert served == generated
    assert "> 0.005" in served["service.yml"]
    http("DELETE", f"{stack.perfbudget.url}/api/performance-alerts/{body['data']['id']}", headers=AUTH)


def test_without_a_token_it_is_a_401_and_with_a_read_token_a_401_too(stack: Stack) -> None:
    status, body = _post(stack.perfbudget, {"alertType": "cpu", "threshold": 70}, headers={})
    assert status == 401
    assert body["success"] is False and body["ok"] is False and "reload" in body["error"]
    status, body = _post(stack.perfbudget, {"alertType": "cpu", "threshold": 70},
                         headers={"Authorization": f"Bearer {READER}"})
    assert status == 401, body
    status, body = http("DELETE", f"{stack.perfbudget.url}/api/performance-alerts/alert_1", headers={})
    assert status == 401 and body["success"] is False


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"alertType": "cpu", "threshold": 170}, "threshold", "at most 100%"),
    ({"alertType": "response_time", "threshold": "fast"}, "threshold", "duration"),
    ({"alertType": "error_rate"}, "threshold", "required"),
    ({"alertType": "lcp", "threshold": 2500}, "alertType", "budgets file"),
    ({"alertType": "cpus", "threshold": 70}, "alertType", "did you mean 'cpu'"),
    ({"alertType": "memory", "threshold": 90, "severity": "critical"}, "severity", "resources.severity"),
    ({"alertType": "uptime", "threshold": 99.5, "severity": "loud"}, "severity", "not one of"),
    ({"alertType": "cpu", "threshold": 70, "dealerId": "d1"}, "dealerId", "unknown field"),
])
def test_bad_input_is_a_400_naming_the_field(stack: Stack, body: dict[str, Any], field: str, words: str) -> None:
    status, answer = _post(stack.perfbudget, body)
    assert status == 400, answer
    assert answer["success"] is False and answer["ok"] is False
    assert answer["error"].startswith(f"{field}: ") and words in answer["error"], answer["error"]


def test_without_a_rules_folder_it_is_a_409_saying_what_to_change(tmp_path: Path) -> None:
    config = {"auth": {"tokens": [{"name": "ops", "token": TOKEN, "scopes": ["reload", "read"]}]}}
    with exporter(tmp_path, config=config, workers=1) as srv:
        status, body = _post(srv, {"alertType": "cpu", "threshold": 70})
        assert status == 409, body
        assert body["success"] is False
        assert "prometheus.rules_dir" in body["error"] and "PrometheusRule" in body["error"]
        assert not (tmp_path / "data" / "budgets.overrides.yaml").exists()


def test_posts_taken_by_several_workers_at_once_each_keep_theirs(stack: Stack) -> None:
    bodies = [{"alertType": "cpu", "threshold": 75}, {"alertType": "memory", "threshold": 95},
              {"alertType": "uptime", "threshold": 99.5}, {"alertType": "error_rate", "threshold": 1}]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda body: _post(stack.perfbudget, body), bodies))
    assert [status for status, _ in answers] == [201] * len(bodies), answers
    ids = {answer["data"]["id"] for _, answer in answers}
    assert set(wait_for(lambda: _listed(stack.perfbudget), 10, what="the list")) == ids
    exprs = wait_for(lambda: (e := _alert_exprs(stack.prometheus)).get("HostMemoryBudgetExceeded") ==
                     ["instance:node_memory_utilisation:ratio > 0.95"] and e, 30, what="Prometheus has them all")
    assert exprs["HostCPUBudgetExceeded"] == ["instance:node_cpu_utilisation:rate5m > 0.75"]
    for alert_id in ids:
        assert http("DELETE", f"{stack.perfbudget.url}/api/performance-alerts/{alert_id}", headers=AUTH)[0] == 200
    assert _listed(stack.perfbudget) == {}
