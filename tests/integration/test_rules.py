"""The generated rules, Alertmanager config and dashboards, checked by the real tools: promtool, amtool,
and a real Prometheus scraping a real exporter, loading the generated rules and firing a budget alert."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfbudget.budgets import naming
from perfbudget.budgets.generate import generate, generate_files, write
from perfbudget.budgets.model import load_budgets
from perfbudget.config import load_config
from perfbudget.playbooks.model import load_playbooks
from perfbudget.vitals import VITALS

from .dashboards import dashboard_queries
from .stack import Server, beacon, exporter, http, prom_query, prometheus, wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]
RULES = sorted((REPO / naming.RULES_DIR).glob("*.yml"))
RULE_TESTS = sorted((REPO / naming.RULE_TESTS_DIR).glob("*.yml"))


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    binary = shutil.which(args[0])
    assert binary, f"{args[0]} is not installed: run scripts/install-test-deps"
    return subprocess.run([binary, *args[1:]], capture_output=True, text=True, timeout=timeout, check=False)


def test_the_committed_files_match_the_generator() -> None:
    changed = [f.path for f in generate(None, env={}) if (REPO / f.path).read_text() != f.text]
    assert changed == [], "run `perfbudget generate`"


def test_promtool_check_rules_with_every_lint_passes() -> None:
    result = _run("promtool", "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_passes_for_every_alert() -> None:
    """Each alert fires on a breach, resolves, and stays quiet under the target and below min samples."""
    result = _run("promtool", "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_has_a_promtool_case_that_fires_it() -> None:
    for rules in RULES:
        alerts = {r["alert"] for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"] if "alert" in r}
        tests = yaml.safe_load((REPO / naming.RULE_TESTS_DIR / rules.name).read_text())["tests"]
        fired = {t["alertname"] for case in tests for t in case["alert_rule_test"] if t["exp_alerts"]}
        assert alerts <= fired, rules.name


def test_amtool_accepts_the_alertmanager_config() -> None:
    result = _run("amtool", "check-config", str(REPO / naming.ALERTMANAGER_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("severity", "receiver"), [
    ("critical", "perfbudget-slack-and-email"), ("warning", "perfbudget-and-slack"), ("info", "perfbudget")])
def test_amtool_routes_each_severity_to_its_receiver(severity: str, receiver: str) -> None:
    for rules in RULES:
        for group in yaml.safe_load(rules.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("labels", {}).get("severity") != severity:
                    continue
                labels = [f"{k}={v}" for k, v in {"alertname": rule["alert"], **rule["labels"]}.items()]
                result = _run("amtool", "config", "routes", "test",
                              f"--config.file={REPO / naming.ALERTMANAGER_FILE}", *labels)
                assert result.stdout.strip() == receiver, (rule["alert"], result.stdout, result.stderr)


def test_every_dashboard_query_parses_as_promql(tmp_path: Path) -> None:
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query_{i}:check", "expr": expr} for i, (_, _, expr) in enumerate(dashboard_queries())
    ]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = _run("promtool", "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# --- a real Prometheus, a real exporter, the generated rules ----------------------------------------

# Every beacon comes from 127.0.0.1, one distinct client: min_clients 1 (the guard itself is tested against a
# real Prometheus in test_distinct_clients.py).
TEST_BUDGETS: dict[str, Any] = {
    "vitals": [
        {"metric": "LCP", "target": 2500, "window": "1m", "min_samples": 3, "min_clients": 1, "for": "0s",
         "severity": "critical"},
        {"metric": "LCP", "name": "lcp-slow-pages", "route": "/slow.*", "target": 3000, "window": "1m",
         "min_samples": 3, "min_clients": 1, "for": "0s", "severity": "warning"},
        {"metric": "INP", "target": 200, "window": "1m", "min_samples": 3, "min_clients": 1, "for": "0s"},
    ],
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    tmp = tmp_path_factory.mktemp("rules")
    budgets_file = tmp / "budgets.yaml"
    budgets_file.write_text(yaml.safe_dump(TEST_BUDGETS))
    rules_dir = tmp / "out"
    write(generate_files(load_budgets(budgets_file, env={}), "test"), rules_dir)
    rule_files = sorted((rules_dir / naming.RULES_DIR).glob("*.yml"))
    with exporter(tmp / "exporter", workers=2, config={"budgets_file": str(budgets_file)}) as exp, \
            prometheus(tmp / "prometheus", [f"127.0.0.1:{exp.port}"], rule_files=rule_files) as prom:
        _send(exp, 0, 5)
        wait_for(lambda: prom_query(prom, 'sum(perfbudget_lcp_seconds_count{route="/slow"})')["result"], 30,
                 what="Prometheus to scrape the first beacons")
        _send(exp, 5, 20)
        yield exp, prom


# /slow's LCP attribution (ms, adding up to its 3.5 s): the LCP image is loaded, then waits to be painted.
SLOW_SUBPARTS = {"timeToFirstByte": 300.0, "resourceLoadDelay": 300.0, "resourceLoadDuration": 500.0,
                 "elementRenderDelay": 2400.0}


def _send(exp: Server, start: int, end: int) -> None:
    """Page loads on /slow at 3.5 s LCP (over both budgets) whose subparts say element render delay, on /bare at
    3.5 s with no attribution (over the general budget), on /fast at 1 s; INP good everywhere."""
    for i in range(start, end):
        for page, lcp in (("http://shop.test/slow", 3500.0), ("http://shop.test/bare", 3500.0),
                          ("http://shop.test/fast", 1000.0)):
            extra = {"attribution": SLOW_SUBPARTS} if page.endswith("/slow") else {}
            batch = [beacon("LCP", lcp, f"{page}-{i}", page=page, **extra),
                     beacon("INP", 80.0, f"{page}-{i}", page=page)]
            status, body = http("POST", f"{exp.url}/api/web-vitals", batch)
            assert status == 200, body


def _alerts(prom: Server) -> list[dict[str, Any]]:
    status, body = http("GET", f"{prom.url}/api/v1/alerts")
    assert status == 200
    alerts: list[dict[str, Any]] = body["data"]["alerts"]
    return alerts


def _firing_budget_alerts(prom: Server, routes: set[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60

    def firing() -> list[dict[str, Any]]:
        found = [a for a in _alerts(prom) if a["state"] == "firing"
                 and a["labels"]["alertname"] == naming.ALERT_VITAL_BUDGET]
        return found if {a["labels"]["route"] for a in found} >= routes else []

    return wait_for(firing, max(1.0, deadline - time.monotonic()), what=f"the budget alerts on {routes} to fire")


def test_the_slow_route_budget_alert_fires_with_the_labels_playbooks_match(stack: tuple[Server, Server]) -> None:
    _, prom = stack
    found = [a for a in _firing_budget_alerts(prom, {"/slow"}) if a["labels"]["route"] == "/slow"]
    assert len(found) == 1, found  # the specific budget owns /slow; /fast is under budget
    labels = found[0]["labels"]
    assert {k: labels[k] for k in ("metric", "route", "budget", "severity")} == {
        "metric": "LCP", "route": "/slow", "budget": "lcp-slow-pages", "severity": "warning"}
    assert labels["device"] in ("phone", "tablet", "desktop", "unknown")
    annotations = found[0]["annotations"]
    assert re.fullmatch(r"p75 LCP over the last 1m is 3\.\d+s on /slow \(\w+\), above the budget of 3s "
                        r"\(budget lcp-slow-pages, at least 3 page loads\)\. Dominant LCP subpart at p75: "
                        r"element_render_delay\.", annotations["description"])
    assert annotations["runbook_url"] == "http://127.0.0.1:9478/api/perf-fix?metric=LCP"
    assert "var-route=%2Fslow" in annotations["dashboard"]


def test_the_real_breakdown_names_the_cause_and_the_cause_picks_one_playbook(
        stack: tuple[Server, Server], tmp_path: Path) -> None:
    """The exporter's real subpart histograms, the generated rules in the real Prometheus: /slow's alert says
    element_render_delay, /bare's (no attribution, no breakdown) still fires with cause unknown; the bundled
    playbooks' matching (what the webhook runs) starts exactly one for each."""
    _, prom = stack
    found = {a["labels"]["route"]: a["labels"] for a in _firing_budget_alerts(prom, {"/slow", "/bare"})}
    assert found["/slow"]["cause"] == "element_render_delay"
    assert (found["/bare"]["cause"], found["/bare"]["budget"]) == ("unknown", "lcp")
    playbooks = load_playbooks(load_config(None, env={"PERFBUDGET_DATA_DIR": str(tmp_path)}))
    assert [book.id for book in playbooks.matching({"alertname": naming.ALERT_VITAL_BUDGET, **found["/slow"]})] == [
        "render-blocking-resources"]
    assert [book.id for book in playbooks.matching({"alertname": naming.ALERT_VITAL_BUDGET, **found["/bare"]})] == [
        "optimize-images"]
    dominant = prom_query(prom, naming.breakdown_dominant(VITALS["LCP"], "1m"))["result"]
    assert [(s["metric"]["route"], s["metric"]["cause"]) for s in dominant] == [("/slow", "element_render_delay")]


def test_every_dashboard_query_runs_and_the_web_vitals_ones_return_data(stack: tuple[Server, Server]) -> None:
    _, prom = stack
    empty = []
    for dashboard, title, expr in dashboard_queries():
        data = prom_query(prom, expr)  # raises on any error
        if dashboard == "web-vitals" and "offset" not in expr and ("lcp" in expr or "LCP" in title) \
                and not data["result"]:
            empty.append((title, expr))
    assert empty == []
