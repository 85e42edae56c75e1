"""GET /api/performance-monitoring against a real `perfbudget serve` (granian, 2 workers) and a real Prometheus
scraping it and node_exporter: the contract's names and types, perfbudget's own HTTP server histogram as
promtool and Prometheus read it, ?service=<job> from PromQL, the read rule and the errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from .stack import Server, beacon, exporter, free_port, http, prom_query, prometheus, wait_for, wait_http

pytestmark = pytest.mark.integration
BEACONS = 12
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
READ_TOKEN = "monitoring-read-token-0123456789"


@contextmanager
def node_exporter(tmp: Path) -> Iterator[str | None]:
    """Debian's node_exporter on a free port (host:port), or None when it is not installed."""
    if NODE_EXPORTER is None:
        yield None
        return
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    with (tmp / "node_exporter.log").open("wb") as out:
        proc = subprocess.Popen([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/metrics", 30, proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, bool]]:
    tmp = tmp_path_factory.mktemp("monitoring")
    port = free_port()
    with ExitStack() as stack:
        node = stack.enter_context(node_exporter(tmp / "node"))
        targets = [f"127.0.0.1:{port}", *([node] if node else [])]
        prom = stack.enter_context(prometheus(tmp / "prometheus", targets))
        # Answers kept long enough that the cache test below cannot see one expire.
        exp = stack.enter_context(exporter(tmp / "exporter", port=port, config={
            "prometheus": {"url": prom.url}, "server": {"read_cache_seconds": 300}}))
        for i in range(BEACONS):
            assert http("POST", f"{exp.url}/api/web-vitals", [beacon("LCP", 1800.0 + i, f"m{i}")])[0] == 200
            if i == 0:  # PromQL's increase() counts from a series' first sample: let Prometheus see it first
                wait_for(lambda: _scraped(prom) == 1, 30, what="Prometheus to scrape the first beacon's request")
        assert http("GET", f"{exp.url}/api/no-such-thing")[0] == 404
        assert _oversized_post(exp, "/-/reload") == 413  # answered by the front, before the application
        wait_for(lambda: _scraped(prom) >= BEACONS, 30, what="Prometheus to scrape every beacon's request")
        if node:  # rate() over the CPU times needs two of node_exporter's samples
            wait_for(lambda: prom_query(prom, 'rate(node_cpu_seconds_total{mode="idle"}[5m])')["result"], 30,
                     what="two scrapes of node_exporter")
        yield exp, prom, node is not None


def _oversized_post(exp: Server, path: str) -> int:
    """A POST declaring a body over every cap (none is sent: the front refuses it from the header)."""
    connection = HTTPConnection("127.0.0.1", exp.port, timeout=10)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(10**9))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def _scraped(prom: Server) -> float:
    result = prom_query(prom, 'sum(http_server_request_duration_seconds_count{http_route="/api/web-vitals", '
                              'http_request_method="POST"})')["result"]
    return float(result[0]["value"][1]) if result else 0.0


def prom_query_at(prom: Server, query: str, at: float) -> float:
    status, body = http("GET", f"{prom.url}/api/v1/query?" + urlencode({"query": query, "time": f"{at:.3f}"}))
    assert status == 200 and body["data"]["result"], body
    return float(body["data"]["result"][0]["value"][1])


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_contract(data: dict[str, Any]) -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["timestamp"])
    health = data["systemHealth"]
    for name in ("uptime", "responseTime", "errorRate", "throughput"):
        assert _number(health[name]), (name, health[name])
    assert health["status"] in ("healthy", "warning", "critical")
    assert health["latencyPercentile"] == 95 and _number(health["responseTimePercentile"])  # the latency budget's
    assert isinstance(health["breaches"], list)
    for breach in health["breaches"]:
        assert {"budget", "value", "threshold", "severity"} <= set(breach)
    assert health["status"] == ("healthy" if not health["breaches"] else health["status"])
    for endpoint, entry in data["apiPerformance"].items():
        assert re.fullmatch(r"[A-Z_]+ \S+", endpoint)
        assert set(entry) == {"avgResponseTime", "successRate", "callsPerHour", "errorCount", "lastError"}
        assert isinstance(entry["callsPerHour"], int) and isinstance(entry["errorCount"], int)
        assert entry["lastError"] is None or isinstance(entry["lastError"], dict)
    usage = data["resourceUsage"]
    for name in ("cpu", "memory", "disk", "network"):
        value = usage[name]
        assert (value is None and isinstance(usage["reasons"][name], str)) or (_number(value) and value >= 0)


def test_the_answer_has_the_guides_names_and_types(stack: tuple[Server, Server, bool]) -> None:
    exp, _, _ = stack
    status, body = http("GET", f"{exp.url}/api/performance-monitoring")
    assert status == 200 and body["success"] is True
    data = body["data"]
    _check_contract(data)
    beacons = data["apiPerformance"]["POST /api/web-vitals"]
    assert beacons["callsPerHour"] == BEACONS and beacons["errorCount"] == 0 and beacons["successRate"] == 100.0
    assert data["apiPerformance"]["GET unmatched"]["callsPerHour"] >= 1  # the 404: a bounded label
    assert data["systemHealth"]["uptime"] == 100.0  # up every minute since it started
    for name in ("cpu", "memory", "disk"):
        assert 0 <= data["resourceUsage"][name] <= 100


def test_the_exposition_passes_promtool_and_prometheus_reads_the_standard_names(
        stack: tuple[Server, Server, bool]) -> None:
    exp, prom, _ = stack
    _, text = http("GET", f"{exp.url}/metrics", headers={"Accept": "text/plain"})
    assert "# TYPE http_server_request_duration_seconds histogram" in text
    checked = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    edges = set(re.findall(r'http_server_request_duration_seconds_bucket\{[^}]*le="([^"]+)"', text))
    assert edges == {"0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "5.0",
                     "7.5", "10.0", "+Inf"}

    def labels() -> set[tuple[str, str, str]]:
        series = prom_query(prom, "http_server_request_duration_seconds_count")["result"]
        return {(s["metric"]["http_route"], s["metric"]["http_request_method"],
                 s["metric"]["http_response_status_code"]) for s in series}

    # A scrape counts itself once it is over: the next scrape shows it.
    expected = {
        ("/api/web-vitals", "POST", "200"),
        ("unmatched", "GET", "404"),
        ("/-/reload", "POST", "413"),  # refused in front of Flask, under the route it would match
        ("/metrics", "GET", "200"),  # a scrape counts itself once it is over: the next scrape shows it
    }
    wait_for(lambda: expected <= labels(), 30, what=f"Prometheus to scrape the series {sorted(expected)}")
    assert _scraped(prom) == BEACONS


def test_a_service_is_answered_from_promql(stack: tuple[Server, Server, bool]) -> None:
    exp, prom, has_node = stack
    status, body = http("GET", f"{exp.url}/api/performance-monitoring?service=perfbudget")
    assert status == 200 and body["success"] is True, body
    data = body["data"]
    _check_contract(data)
    assert data["source"] == {"kind": "prometheus", "job": "perfbudget", "url": prom.url}
    # Prometheus started first: the exporter's target was down until it came up, and uptime says so.
    at = datetime.fromisoformat(data["timestamp"].replace("Z", "+00:00")).timestamp()
    up = prom_query_at(prom, 'avg(avg_over_time(up{job="perfbudget"}[24h])) * 100', at)
    assert data["systemHealth"]["uptime"] == pytest.approx(up, abs=0.5)
    # increase() counts from the first sample Prometheus took (one request in) and extrapolates a little.
    assert data["apiPerformance"]["POST /api/web-vitals"]["callsPerHour"] >= BEACONS - 1
    assert data["apiPerformance"]["POST /api/web-vitals"]["errorCount"] == 0
    if has_node:
        for name in ("cpu", "memory", "disk"):
            value = data["resourceUsage"][name]
            assert value is not None and 0 <= value <= 100, data["resourceUsage"]
    else:
        assert "node_exporter" in data["resourceUsage"]["reasons"]["cpu"]


def test_a_job_prometheus_does_not_scrape_is_404_with_the_known_ones(stack: tuple[Server, Server, bool]) -> None:
    exp, _, _ = stack
    for job in ("nope", 'perfbudget"} or vector(1) #'):
        status, body = http("GET", f"{exp.url}/api/performance-monitoring?" + urlencode({"service": job}))
        assert status == 404, body
        assert body["success"] is False and body["ok"] is False
        assert "perfbudget" in body["error"] and body["knownServices"] == ["perfbudget"]


def test_reads_follow_the_read_rule_and_service_needs_prometheus(tmp_path: Path) -> None:
    config = {"auth": {"anonymous_reads": False, "tokens": [{"name": "reader", "token": READ_TOKEN,
                                                              "scopes": ["read"]}]}}
    with exporter(tmp_path, workers=1, config=config) as exp:
        url = f"{exp.url}/api/performance-monitoring"
        status, body = http("GET", url)
        assert status == 401 and body["success"] is False and body["ok"] is False and "read" in body["error"]
        auth = {"Authorization": f"Bearer {READ_TOKEN}"}
        status, body = http("GET", url, headers=auth)
        assert status == 200 and body["success"] is True
        _check_contract(body["data"])
        status, body = http("GET", f"{url}?service=perfbudget", headers=auth)
        assert status == 409 and body["success"] is False and body["ok"] is False
        assert "prometheus.url" in body["error"] and "PERFBUDGET_PROMETHEUS_URL" in body["error"]


def test_answers_are_shared_by_the_workers_for_a_while(stack: tuple[Server, Server, bool]) -> None:
    exp, _, _ = stack
    answers = []
    for _ in range(4):  # two workers: at least one answer comes from the worker that did not compute it
        with urllib.request.urlopen(f"{exp.url}/api/performance-monitoring?service=perfbudget", timeout=10) as r:
            answers.append((r.headers["X-Perfbudget-Cache"], r.read()))
    assert [hit for hit, _ in answers[1:]] == ["hit"] * 3
    assert len({body for _, body in answers}) == 1
