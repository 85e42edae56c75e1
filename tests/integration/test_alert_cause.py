"""The whole chain for the `cause` label: real beacons with LCP attribution into a real `perfbudget serve`
(2 workers), a real Prometheus on the generated rules, a real Alertmanager delivering to the exporter's webhook.
Each route's budget alert names the dominant LCP subpart at p75 (unknown without attribution), and the webhook
starts exactly one run per alert, of the playbook that addresses that cause."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from perfbudget.budgets import naming
from perfbudget.budgets.generate import generate_files, write
from perfbudget.budgets.model import load_budgets

from .stack import (
    Server,
    alertmanager,
    beacon,
    exporter,
    http,
    prom_query,
    prometheus,
    wait_for,
    webhook_alertmanager_config,
)

pytestmark = pytest.mark.integration
TOKEN = "alert-cause-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BUDGETS = {"vitals": [{"metric": "LCP", "target": 2500, "window": "1m", "min_samples": 3, "min_clients": 1,
                       "for": "0s", "severity": "critical"}], "regression": None, "beacons_stopped": None}


def _parts(ttfb: float, delay: float, duration: float, render: float) -> dict[str, float]:
    return {"timeToFirstByte": ttfb, "resourceLoadDelay": delay, "resourceLoadDuration": duration,
            "elementRenderDelay": render}


# route -> (LCP attribution adding up to 4 s, or none; the cause the alert must carry; the playbook it starts)
ROUTES: dict[str, tuple[dict[str, float] | None, str, str]] = {
    "/render": (_parts(300, 300, 400, 3000), "element_render_delay", "render-blocking-resources"),
    "/server": (_parts(3000, 300, 400, 300), "time_to_first_byte", "server-response-caching"),
    "/hero": (_parts(300, 3000, 400, 300), "resource_load_delay", "optimize-images"),
    "/plain": (None, "unknown", "optimize-images"),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    tmp = tmp_path_factory.mktemp("cause")
    budgets_file = tmp / "budgets.yaml"
    budgets_file.write_text(yaml.safe_dump(BUDGETS))
    out = tmp / "out"
    write(generate_files(load_budgets(budgets_file, env={}), "test"), out)
    (tmp / "site").mkdir()
    config = {"budgets_file": str(budgets_file), "site_root": str(tmp / "site"),
              "auth": {"tokens": [{"name": "alertmanager", "token": TOKEN, "scopes": ["webhook", "read"]}]},
              "playbooks": {"cooldown_seconds": 0}}
    with exporter(tmp / "exporter", workers=2, config=config) as exp:
        am_file = tmp / "alertmanager.yml"
        am_file.write_text(yaml.safe_dump(webhook_alertmanager_config(exp.url, TOKEN, repeat_interval="1h")))
        with alertmanager(tmp / "am", am_file) as am, \
                prometheus(tmp / "prometheus", [f"127.0.0.1:{exp.port}"], alertmanager_url=f"127.0.0.1:{am.port}",
                           rule_files=sorted((out / naming.RULES_DIR).glob("*.yml"))) as prom:
            _send(exp, 0, 3)
            wait_for(lambda: len(prom_query(prom, "perfbudget_lcp_seconds_count")["result"]) == len(ROUTES), 30,
                     what="Prometheus to scrape the first page loads")
            _send(exp, 3, 15)
            yield exp, prom


def _send(exp: Server, start: int, end: int) -> None:
    for i in range(start, end):
        for route, (parts, _, _) in ROUTES.items():
            page = f"http://shop.test{route}"
            extra = {"attribution": parts} if parts is not None else {}
            status, body = http("POST", f"{exp.url}/api/web-vitals", [beacon("LCP", 4000.0, f"{route}-{i}", page=page,
                                                                             **extra)])
            assert status == 200, body


def _runs(exp: Server) -> list[dict[str, Any]]:
    status, body = http("GET", f"{exp.url}/api/perf-fix/runs?limit=100", headers=AUTH)
    assert status == 200, body
    runs: list[dict[str, Any]] = body["runs"]
    return runs


def test_each_cause_reaches_the_webhook_and_starts_the_one_playbook_that_addresses_it(
        stack: tuple[Server, Server]) -> None:
    exp, prom = stack

    def alerted() -> list[dict[str, Any]]:
        runs = [r for r in _runs(exp) if r["trigger"] and r["trigger"].get("type") == "alert"]
        return runs if {r["trigger"]["labels"]["route"] for r in runs} >= set(ROUTES) else []

    runs = wait_for(alerted, 90, what="a run started by each route's alert")
    time.sleep(3)  # any second run Alertmanager's deliveries would start has had time to be recorded
    runs = [r for r in _runs(exp) if r["trigger"] and r["trigger"].get("type") == "alert"]
    started = sorted((r["trigger"]["labels"]["route"], r["trigger"]["labels"]["cause"], r["playbookId"])
                     for r in runs)
    assert started == sorted((route, cause, playbook) for route, (_, cause, playbook) in ROUTES.items())
    assert {r["mode"] for r in runs} == {"dry-run"}
    _, body = http("GET", f"{prom.url}/api/v1/alerts")
    firing = {a["labels"]["route"]: a["labels"]["cause"] for a in body["data"]["alerts"] if a["state"] == "firing"}
    assert firing == {route: cause for route, (_, cause, _) in ROUTES.items()}
