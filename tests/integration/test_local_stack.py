"""The no-Docker path end to end: `perfbudget generate` writes the rules and the Alertmanager config from a
budgets file, `demo/local_stack.py` starts the demo shop, `perfbudget serve`, Debian's Alertmanager and
Prometheus with them, and real Chromium visits the demo page. Its real beacons become histogram samples,
Prometheus evaluates the generated rules and fires the budget alert, Alertmanager delivers it to the webhook
(more than once), and the exporter records exactly one dry run of the images playbook whose preview
re-encoded the demo's real hero.jpg. Then SIGTERM stops the whole stack cleanly.

Prometheus's `increase()` cannot see the first sample of a series that is born with it (Prometheus 2.42
has no created-timestamp zero injection), so the first page view creates the route's series and the second
one, after a scrape, is the one the alert sees: as on a real site, where a route's first load is never alone.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from .browser import chromium
from .stack import PERFBUDGET, http, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "local-stack-webhook-token-0123456789"
# The hero (1.5 MB) arrives in about 3.8 s at this bandwidth: LCP well over the budget, on 127.0.0.1.
BANDWIDTH = 400_000
ROUTE, DEVICE = "/products/:id", "desktop"  # /products/42.html by demo/perfbudget.yml's pattern; headless Chrome
# 1750 ms is none of the default bucket edges: the exporter gets it from --budgets, so compliance is exact.
BUDGETS: dict[str, Any] = {
    "vitals": [{"metric": "LCP", "target": 1750, "window": "1m", "min_samples": 1, "min_clients": 1, "for": "0s",
                "severity": "critical"}],  # one browser on 127.0.0.1: one distinct client
    "service": {"latency": None, "error_rate": None, "availability": None},
    "resources": {"cpu_percent": None, "memory_percent": None, "disk_percent": None},
    "regression": None,
    "beacons_stopped": None,
}


@dataclass
class LocalStack:
    proc: subprocess.Popen[bytes]
    run_dir: Path
    ports: dict[str, int]
    log: Path
    timings: dict[str, float] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    tmp = tmp_path_factory.mktemp("local-stack")
    budgets = tmp / "budgets.yaml"
    budgets.write_text(yaml.safe_dump(BUDGETS))
    generated = tmp / "generated"
    subprocess.run([*PERFBUDGET, "generate", "--budgets", str(budgets), "--output-dir", str(generated)],
                   check=True, capture_output=True, timeout=60)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PERFBUDGET_", "PROMETHEUS_"))}
    env["PERFBUDGET_API_TOKEN"] = TOKEN
    run_dir, log = tmp / "run", tmp / "local-stack.log"
    args = [sys.executable, str(ROOT / "demo" / "local_stack.py"), "--free-ports", "--run-dir", str(run_dir),
            "--rules-dir", str(generated / "alertmanager" / "rules"),
            "--alertmanager-config", str(generated / "alertmanager" / "alertmanager.yml"),
            "--budgets", str(budgets), "--interval", "1s", "--group-interval", "1s", "--repeat-interval", "2s",
            "--bandwidth", str(BANDWIDTH)]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    ports_file = run_dir / "ports.yml"
    try:
        wait_for(lambda: ports_file.exists() or proc.poll() is not None, 90, what="the local stack to start")
        assert proc.poll() is None, log.read_text()
        ports = yaml.safe_load(ports_file.read_text())["ports"]
        yield LocalStack(proc, run_dir, ports, log)
    except BaseException:
        print(log.read_text(errors="replace"), file=sys.stderr)
        raise
    finally:
        if proc.poll() is None:  # the last test stops it with SIGTERM; this is the safety net
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _metric(text: str, name: str, **labels: str) -> float | None:
    """One sample's value from the text exposition (labels in any order), or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name):line.rindex("}")]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    return None


def _exposition(stack: LocalStack) -> str:
    status, text = http("GET", f"{stack.url('exporter')}/metrics")
    assert status == 200
    return str(text)


def _lcp_count(stack: LocalStack) -> float:
    return _metric(_exposition(stack), "perfbudget_lcp_seconds_count", device=DEVICE, route=ROUTE) or 0.0


def _scraped_lcp_count(stack: LocalStack) -> float:
    query = f'perfbudget_lcp_seconds_count{{route="{ROUTE}",device="{DEVICE}"}}'
    status, body = http("GET", f"{stack.url('prometheus')}/api/v1/query?query={query}")
    assert status == 200, body
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def _visit(browser: Any, url: str) -> None:
    """A shopper's page view: the heavy hero loads, a click on "Add to cart" (a real input for INP), then
    leaving the page, which hides it: web-vitals reports and beacon.js sends the batch."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(url, wait_until="load")
    page.wait_for_function("document.querySelector('img.hero').complete")
    page.wait_for_selector(".promo")  # the banner that shifts the layout
    page.click("#add")
    page.wait_for_function("document.getElementById('status').textContent === 'added to cart'")
    page.wait_for_timeout(1500)  # web-vitals reads event timing in an idle callback after the click
    page.goto("about:blank")
    page.close()


def _alerts(stack: LocalStack) -> list[dict[str, Any]]:
    status, body = http("GET", f"{stack.url('prometheus')}/api/v1/alerts")
    assert status == 200, body
    return [a for a in body["data"]["alerts"] if a["labels"].get("alertname") == "WebVitalsBudgetExceeded"]


def _runs(stack: LocalStack) -> list[dict[str, Any]]:
    status, body = http("GET", f"{stack.url('exporter')}/api/perf-fix/runs?playbook=optimize-images")
    assert status == 200, body
    runs: list[dict[str, Any]] = body["runs"]
    return runs


def _run(stack: LocalStack, run_id: str) -> dict[str, Any]:
    status, body = http("GET", f"{stack.url('exporter')}/api/perf-fix/runs/{run_id}")
    assert status == 200, body
    return dict(body)


@pytest.fixture(scope="module")
def visited(stack: LocalStack) -> LocalStack:
    """Two page views of the demo product page in Chromium, the second after Prometheus has the series."""
    url = f"{stack.url('demo')}/products/42.html"
    with chromium() as browser:
        stack.timings["first_view"] = time.monotonic()
        _visit(browser, url)
        wait_for(lambda: _lcp_count(stack) >= 1, 15, what="the first page view's LCP in /metrics")
        wait_for(lambda: _scraped_lcp_count(stack) >= 1, 15, what="Prometheus to scrape the new series")
        stack.timings["second_view"] = time.monotonic()
        _visit(browser, url)
        stack.timings["second_beacon"] = time.monotonic()
    wait_for(lambda: _lcp_count(stack) >= 2, 15, what="the second page view's LCP in /metrics")
    return stack


def test_the_demo_pages_beacons_land_in_the_histograms_under_the_route_template(visited: LocalStack) -> None:
    text = _exposition(visited)
    labels = {"device": DEVICE, "route": ROUTE}
    assert _metric(text, "perfbudget_lcp_seconds_count", **labels) == 2
    lcp_sum = _metric(text, "perfbudget_lcp_seconds_sum", **labels)
    assert lcp_sum is not None and lcp_sum / 2 > 1.75, "the throttled hero makes LCP slower than the budget"
    # The budget's target is an exact bucket edge (from --budgets), and both loads are over it.
    assert _metric(text, "perfbudget_lcp_seconds_bucket", le="1.75", **labels) == 0
    assert _metric(text, "perfbudget_lcp_seconds_bucket", le="+Inf", **labels) == 2
    # The click gave INP and the banner a layout shift, reported by the same real beacons.
    assert (_metric(text, "perfbudget_inp_seconds_count", **labels) or 0) >= 1
    assert (_metric(text, "perfbudget_cls_count", **labels) or 0) >= 1
    assert 'route="/products/42.html"' not in text


def test_prometheus_evaluates_the_generated_rules_and_fires_the_budget_alert(visited: LocalStack) -> None:
    def firing() -> list[dict[str, Any]]:
        return [a for a in _alerts(visited) if a["state"] == "firing"]

    alerts = wait_for(firing, 30, what="WebVitalsBudgetExceeded to fire in Prometheus")
    assert len(alerts) == 1, alerts
    labels = alerts[0]["labels"]
    assert {k: labels[k] for k in ("metric", "route", "device", "budget", "severity")} == {
        "metric": "LCP", "route": ROUTE, "device": DEVICE, "budget": "lcp", "severity": "critical"}
    assert float(alerts[0]["value"]) > 1.75


def test_alertmanager_delivers_it_and_the_exporter_records_one_images_dry_run_with_a_real_preview(
    visited: LocalStack,
) -> None:
    def previewed() -> dict[str, Any] | None:
        done = [r for r in _runs(visited) if r["state"] in ("succeeded", "failed")]
        return done[0] if done else None

    run = wait_for(previewed, 60, what="a recorded dry run of optimize-images")
    recorded = time.monotonic()
    timings = visited.timings
    print(f"\nno-Docker loop: triggering page view -> recorded preview {recorded - timings['second_view']:.1f}s "
          f"(its beacon -> preview {recorded - timings['second_beacon']:.1f}s; first page view -> preview "
          f"{recorded - timings['first_view']:.1f}s)", file=sys.stderr)

    detail = _run(visited, run["id"])
    assert detail["mode"] == "dry-run" and detail["state"] == "succeeded", detail
    trigger = detail["trigger"]
    assert trigger["type"] == "alert"
    assert trigger["labels"]["alertname"] == "WebVitalsBudgetExceeded" and trigger["labels"]["route"] == ROUTE
    assert detail["executedActions"] == []
    images = next(a for a in detail["actions"] if a["kind"] == "images")
    assert images["status"] == "previewed", images
    preview = images["preview"]
    hero = next(c for c in preview["changes"] if c["source"] == "img/hero.jpg")
    assert hero["bytesBefore"] == (ROOT / "demo" / "site" / "img" / "hero.jpg").stat().st_size
    assert hero["lcpReports"] >= 1, "the beacons' LCP attribution named the hero"
    assert {o["format"] for o in hero["outputs"]} == {"webp", "avif"}
    assert 0 < preview["bytesAfter"] < preview["bytesBefore"] and preview["bytesSaved"] > 0
    assert run["bytesSaved"] == preview["bytesSaved"]
    # A dry run changes nothing: the stack's copy of the site still has only the original.
    assert not list((visited.run_dir / "site" / "img").glob("hero*.webp"))

    # repeat_interval is 2s: Alertmanager delivers the firing alert again; the exporter answers from the log.
    wait_for(lambda: _run(visited, run["id"])["deliveries"] >= 2, 30, what="a repeated delivery")
    same = [r for r in _runs(visited) if r["alert"] and r["alert"]["fingerprint"] == detail["alert"]["fingerprint"]]
    assert [r["id"] for r in same] == [run["id"]]


def test_the_local_alertmanager_keeps_only_the_perfbudget_webhook(visited: LocalStack) -> None:
    config = yaml.safe_load((visited.run_dir / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        assert set(receiver) <= {"name", "webhook_configs"}, receiver
        for webhook in receiver.get("webhook_configs", []):
            assert webhook["url"] == f"{visited.url('exporter')}/api/alertmanager"
            assert webhook["http_config"]["authorization"]["credentials_file"] == str(
                visited.run_dir / "perfbudget-token")
    assert (visited.run_dir / "perfbudget-token").read_text() == TOKEN
    assert (visited.run_dir / "perfbudget-token").stat().st_mode & 0o077 == 0
    assert "dropped" in visited.output() and "slack_configs" in visited.output()
    assert "Notify for alerts failed" not in (visited.run_dir / "alertmanager.log").read_text()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_stops_the_whole_stack_cleanly(visited: LocalStack) -> None:
    visited.proc.send_signal(signal.SIGTERM)
    assert visited.proc.wait(60) == 0, visited.output()
    assert "local-stack: stopped" in visited.output()
    assert [name for name, port in visited.ports.items() if _listening(port)] == []
    logs = {name: (visited.run_dir / f"{name}.log").read_text() for name in ("prometheus", "alertmanager", "exporter")}
    assert "See you next time!" in logs["prometheus"]
    assert "exiting gracefully" in logs["alertmanager"]
    assert "shutdown completed" in logs["exporter"].lower()
