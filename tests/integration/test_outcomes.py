"""Fix outcomes against a real `perfbudget serve`: slow page loads, an execute of optimize-images on a real
site root with a real photo, fast page loads after it, then GET /api/perf-fix/outcomes and /metrics.

The server is restarted between the phases (same data directory): each run's last minute is snapshotted at
shutdown, so the page loads before the execute and after it fall into their windows exactly, whatever
minute each phase happens in (windows read minute snapshots, and a test must not wait for minutes).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from perfbudget.budgets.dashboards import dashboards, panels_with_targets
from perfbudget.budgets.model import load_budgets

from .browser import photo_jpeg
from .stack import Server, beacon, exporter, http, prom_query, prometheus, wait_for

pytestmark = pytest.mark.integration
TOKEN = "outcomes-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEBHOOK = {"Authorization": "Basic " + base64.b64encode(f"alertmanager:{TOKEN}".encode()).decode()}
LOADS = 40


def _loads(url: str, value: float, prefix: str) -> None:
    batch = [beacon("LCP", value + i % 7, f"{prefix}-{i}", page="http://shop.test/product/1") for i in range(LOADS)]
    for start in range(0, LOADS, 10):
        status, body = http("POST", f"{url}/api/web-vitals", batch[start:start + 10])
        assert status == 200, body
    wait_for(lambda: _samples(url) >= LOADS, 20, what=f"the {prefix} page loads counted")


def _samples(url: str) -> int:
    status, body = http("GET", f"{url}/api/web-vitals?window=5m")
    assert status == 200, body
    return int(body["metrics"]["LCP"]["samples"])


def _panel_queries(title: str) -> dict[str, str]:
    """The exporter-health dashboard's queries of one panel, by legend, as Grafana sends them here."""
    board = dashboards(load_budgets(env={}), "header")["exporter-health"]
    found = [p for p in panels_with_targets(board) if p["title"] == title]
    assert len(found) == 1, title
    return {t["legendFormat"]: t["expr"].replace("$job", "perfbudget").replace("$__range", "10m")
            for t in found[0]["targets"]}


def _value(prom: Server, query: str, playbook: str) -> float | None:
    for item in prom_query(prom, query)["result"]:
        if item["metric"].get("playbook") == playbook:
            return float(item["value"][1])
    return None


def _alert(status: str) -> dict[str, Any]:
    alert = {"status": status, "fingerprint": "lcp-product", "startsAt": "2026-01-05T10:00:00.000Z",
             "endsAt": "2026-01-05T10:40:00.000Z" if status == "resolved" else "0001-01-01T00:00:00Z",
             "labels": {"alertname": "WebVitalsBudgetExceeded", "metric": "LCP", "budget": "lcp-site"},
             "annotations": {"summary": "LCP over budget"}}
    return {"version": "4", "status": status, "receiver": "perfbudget", "groupKey": "{}", "alerts": [alert]}


def test_an_execute_of_optimize_images_shows_its_outcome_before_and_after(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "img").mkdir(parents=True)
    photo = photo_jpeg(1800, 1200)
    (site / "img" / "hero.jpg").write_bytes(photo)
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("vitals:\n  - metric: LCP\n    name: lcp-site\n    target: 2500\n    min_samples: 30\n")
    config = {"site_root": str(site), "budgets_file": str(budgets), "server": {"read_cache_seconds": 0},
              "playbooks": {"execute": ["optimize-images"], "max_risk": "safe", "cooldown_seconds": 0}}
    env = {"PERFBUDGET_API_TOKEN": TOKEN}
    with exporter(tmp_path, config=config, env=env) as srv:
        _loads(srv.url, 4200, "before")  # every load poor, over the 2.5 s budget

    with exporter(tmp_path, config=config, env=env) as srv, \
            prometheus(tmp_path / "prom", [f"127.0.0.1:{srv.port}"]) as prom:
        # the outcome series exist at zero before anything happens, so Prometheus sees each increase
        wait_for(lambda: _value(prom, "perfbudget_playbook_bytes_saved_total", "optimize-images") == 0, 30,
                 what="the bytes saved series scraped at zero")
        status, started = http("POST", f"{srv.url}/api/perf-fix",
                               {"playbookId": "optimize-images", "dryRun": False, "autoApprove": True}, AUTH)
        assert status in (200, 202), started
        run_id = started["id"]

        def ended() -> dict[str, Any] | None:
            _, run = http("GET", f"{srv.url}/api/perf-fix/runs/{run_id}", headers=AUTH)
            return run if run["state"] in ("succeeded", "failed") else None

        run = wait_for(ended, 120, what="the execute to end")
        assert run["state"] == "succeeded", run
        saved = sum(action["bytesSaved"] or 0 for action in run["executedActions"])
        assert saved > 0 and (site / "img" / "hero.jpg.webp").is_file()
        # an alert a person fixed by hand: only a dry run ran for it (execute_on_alert is off)
        assert http("POST", f"{srv.url}/api/alertmanager", _alert("firing"), WEBHOOK)[0] == 200
        assert http("POST", f"{srv.url}/api/alertmanager", _alert("resolved"), WEBHOOK)[0] == 200
        _, text = http("GET", f"{srv.url}/metrics")
        assert f'perfbudget_playbook_bytes_saved_total{{playbook="optimize-images"}} {float(saved)}' in text, text
        assert ('perfbudget_playbook_resolution_seconds_sum{outcome="by_hand",playbook="optimize-images"} 2400.0'
                in text), text
        promtool = shutil.which("promtool")
        assert promtool, "promtool is not installed (Debian package 'prometheus')"
        checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                                 timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        # the Grafana panels' own queries over the real Prometheus
        saved_query = _panel_queries("Bytes saved by executes")["{{playbook}}"]
        increase = wait_for(lambda: _value(prom, saved_query, "optimize-images"), 30, what="bytes saved in Prometheus")
        assert saved <= increase <= saved * 1.2  # increase() extrapolates a little past the last scrape
        median = _panel_queries("Time to resolution by playbook (alert start to resolution)")["{{playbook}} median"]
        # one resolution of 2400 s in the (1800, 3600] bucket: histogram_quantile interpolates to its middle
        assert wait_for(lambda: _value(prom, median, "optimize-images"), 30, what="the median in Prometheus") == 2700

    with exporter(tmp_path, config=config, env=env) as srv:
        _loads(srv.url, 1200, "after")  # every load good
        status, answer = http("GET", f"{srv.url}/api/perf-fix/outcomes?playbook=optimize-images")
        assert status == 200, answer
        assert answer["success"] is True
        book = answer["data"]["playbooks"][0]
        assert book["playbookId"] == "optimize-images" and book["metric"] == "LCP"
        assert book["executions"] == 1 and book["dryRuns"] == 1 and book["runs"] == 2
        assert book["succeeded"] == 1 and book["successRate"] == 1.0 and book["outcomes"]["improved"] == 1
        assert book["before"]["samples"] == LOADS and book["before"]["goodShare"] == 0.0
        assert book["after"]["samples"] == LOADS and book["after"]["goodShare"] == 1.0
        assert book["before"]["p75"] > 4000 and book["after"]["p75"] < 1300
        assert book["pageViewsAffected"] == LOADS
        assert book["bytesSaved"] == saved
        assert book["roi"]["goodSharePoints"] == 100.0 and "more good loads a day" in book["roi"]["text"]
        assert book["timeToResolution"]["byHand"]["medianSeconds"] == 2400.0
        assert book["executionsList"][0]["runId"] == run_id
        assert "1 improved past its budget (100 % success)" in book["summary"], book["summary"]
        assert http("GET", f"{srv.url}/api/perf-fix/outcomes?playbook=nope")[0] == 404
