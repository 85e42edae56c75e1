"""GET /api/performance-analytics against a real `perfbudget serve`, and `perfbudget report` from it and from a
real Prometheus (with days of history backfilled by `promtool tsdb create-blocks-from`), its HTML opened in
Chromium: the charts are drawn from the numbers of the JSON (issue 14, section 2)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from .browser import chromium, photo_jpeg
from .stack import PERFBUDGET, Server, beacon, dry_run, exporter, http, prom_query, prometheus, wait_for

pytestmark = pytest.mark.integration
NUMBER = (int, float)
BUDGETS = """vitals:
  - metric: LCP
    name: lcp-site
    target: 1750
    severity: critical
    min_samples: 10
  - metric: CLS
    name: cls-site
    target: 0.1
    min_samples: 10
"""
#: The guide's fields and ours, with their types; None allowed where the second element says so.
METRICS = {"avgResponseTime": NUMBER, "peakResponseTime": NUMBER, "totalRequests": (int,), "errorRate": NUMBER,
           "uptime": NUMBER}
RECOMMENDATION = {"type": (str,), "title": (str,), "description": (str,), "impact": (str,), "effort": (str,),
                  "priority": (str,), "metric": (str,), "points": (int,), "playbookId": (str,),
                  "previewedSavings": (dict,), "blamed": (list,), "budget": (dict,), "otherPlaybooks": (list,)}
VITAL = {"p75": NUMBER, "unit": (str,), "rating": (str,), "samples": (int,), "goodShare": NUMBER,
         "budget": (dict,), "withinBudget": (bool,), "confidence": (str,), "trend": (str,),
         "firstHalfP75": NUMBER, "secondHalfP75": NUMBER}
NULLABLE_VITAL = frozenset({"budget", "withinBudget", "trend", "firstHalfP75"})


def _typed(item: dict[str, Any], fields: Mapping[str, tuple[type, ...]], nullable: frozenset[str] = frozenset()
           ) -> list[str]:
    wrong = []
    for name, types in fields.items():
        value = item.get(name, KeyError)
        if value is KeyError:
            wrong.append(f"{name}: missing")
        elif value is None and name in nullable:
            continue
        elif not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            wrong.append(f"{name}: {value!r}")
    return wrong


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """The exporter with an LCP budget of 1750 ms, 40 page views over it on /products/:id blaming the hero
    image, good CLS, and a dry run of optimize-images over a site with that image."""
    tmp = tmp_path_factory.mktemp("analytics")
    site = tmp / "site"
    (site / "img").mkdir(parents=True)
    (site / "img" / "hero.jpg").write_bytes(photo_jpeg(1600, 1000))
    (tmp / "budgets.yaml").write_text(BUDGETS)
    config = {"site_root": str(site), "budgets_file": str(tmp / "budgets.yaml")}
    # One worker: what the beacons blame reaches another worker's answers only at its next flush (seconds).
    with exporter(tmp, config=config, workers=1) as srv:
        batch = [beacon("LCP", 2100 + 10 * i, f"lcp-{i}", page=f"http://shop.test/products/{i % 3}",
                        attribution={"url": "http://shop.test/img/hero.jpg", "target": "img#hero"}) for i in range(40)]
        batch += [beacon("CLS", 0.01 * (i % 5), f"cls-{i}", page=f"http://shop.test/products/{i % 3}")
                  for i in range(40)]
        for start in range(0, len(batch), 20):
            status, body = http("POST", f"{srv.url}/api/web-vitals", batch[start:start + 20])
            assert status == 200, body
        run = dry_run(srv, "optimize-images")
        assert run["state"] == "succeeded", run

        yield srv, tmp


def _analytics(srv: Server, time_range: str = "24h") -> dict[str, Any]:
    status, body = http("GET", f"{srv.url}/api/performance-analytics?timeRange={time_range}", timeout=60)
    assert status == 200, body
    assert body["success"] is True
    data: dict[str, Any] = body["data"]
    return data


def test_every_field_has_its_type(served: tuple[Server, Path]) -> None:
    data = _analytics(served[0])
    assert data["timeRange"] == "24h"
    assert set(data["metrics"]) == set(METRICS)
    assert _typed(data["metrics"], METRICS) == []
    assert data["metrics"]["totalRequests"] > 0 and 0 < data["metrics"]["uptime"] <= 100
    assert data["unavailable"] == {}
    assert set(data["trends"]) == {"responseTime", "errorRate", "throughput"}
    assert all(v in ("improving", "stable", "increasing", "degrading", None) for v in data["trends"].values())
    assert data["recommendations"], data
    nullable = frozenset({"previewedSavings", "impact", "effort", "playbookId"})  # no dry run yet, no playbook
    assert [_typed(r, RECOMMENDATION, nullable) for r in data["recommendations"]] == [[]] * len(data["recommendations"])
    for route, vitals in data["webVitals"]["routes"].items():
        for name, vital in vitals.items():
            assert _typed(vital, VITAL, NULLABLE_VITAL) == [], (route, name)
    assert set(data["webVitals"]["routes"]) == {"/products/:id"} or len(data["webVitals"]["routes"]) >= 1
    for name, series in data["series"]["vitals"].items():
        assert len(series["points"]) == 24, name
        for point in series["points"]:
            assert isinstance(point["t"], str) and isinstance(point["ts"], NUMBER) and isinstance(point["samples"], int)
    assert isinstance(data["generatedAt"], str)
    for point in data["series"]["api"]["points"]:
        assert isinstance(point["requests"], int) and isinstance(point["throughput"], NUMBER)
    images = next(p for p in data["playbookOutcomes"]["playbooks"] if p["playbookId"] == "optimize-images")
    assert (images["runs"], images["dryRuns"], images["executions"]) == (1, 1, 0)


def test_the_recommendation_names_the_blamed_image_and_the_dry_runs_saving(served: tuple[Server, Path]) -> None:
    srv, _ = served
    data = _analytics(srv)
    status, runs = http("GET", f"{srv.url}/api/perf-fix/runs")
    assert status == 200
    run = next(r for r in runs["runs"] if r["playbookId"] == "optimize-images")
    first = data["recommendations"][0]
    route = next(iter(data["webVitals"]["routes"]))
    lcp = data["webVitals"]["routes"][route]["LCP"]
    assert (lcp["samples"], lcp["withinBudget"], lcp["goodShare"]) == (40, False, 1.0)
    assert (first["metric"], first["playbookId"], first["priority"], first["route"]) == (
        "LCP", "optimize-images", "high", route)
    assert first["previewedSavings"]["runId"] == run["id"]
    saved = first["previewedSavings"]["bytesSaved"]
    assert isinstance(saved, int) and saved > 0
    assert "http://shop.test/img/hero.jpg (40 of 40 reports)" in first["description"]
    assert f"Its latest dry run ({run['id']}) previewed" in first["description"]
    assert not any(r["metric"] == "CLS" for r in data["recommendations"])  # CLS is within its budget


def test_a_bad_range_is_a_400_naming_the_field(served: tuple[Server, Path]) -> None:
    srv, _ = served
    status, body = http("GET", f"{srv.url}/api/performance-analytics?timeRange=last-week")
    assert status == 400
    assert (body["success"], body["ok"]) == (False, False)
    assert body["error"].startswith("timeRange: 'last-week' is not a range; use a whole number and a unit")
    status, body = http("GET", f"{srv.url}/api/performance-analytics?timeRange=31d")
    assert status == 400 and "longer than the 30d of snapshots kept (METRICS_RETENTION_DAYS" in body["error"]


def _report(tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    suffix = {"json": ".json", "markdown": ".md", "html": ".html"}[args[args.index("--format") + 1]]
    output = tmp / f"report-{time.monotonic_ns()}{suffix}"
    done = subprocess.run([*PERFBUDGET, "report", *args, "--output", str(output)], capture_output=True, text=True,
                          timeout=300, cwd=tmp)
    assert done.returncode == 0, done.stderr
    return done, output


def test_the_report_from_perfbudget_is_its_answer_in_each_format(served: tuple[Server, Path]) -> None:
    srv, tmp = served
    done, output = _report(tmp, "--range", "24h", "--source", srv.url, "--format", "json")
    report = json.loads(output.read_text())["data"]
    assert f"GET {srv.url}/api/performance-analytics?timeRange=24h" in done.stderr
    assert report["webVitals"] == _analytics(srv)["webVitals"]
    _, markdown = _report(tmp, "--range", "24h", "--source", srv.url, "--format", "markdown")
    assert "| /products/:id | LCP |" in markdown.read_text()
    _, page = _report(tmp, "--range", "24h", "--source", srv.url, "--format", "html")
    assert "<script" not in page.read_text() and "<svg" in page.read_text()
    failed = subprocess.run([*PERFBUDGET, "report", "--range", "2x", "--source", srv.url], capture_output=True,
                            text=True, timeout=60)
    assert failed.returncode == 2 and "HTTP 400: timeRange: '2x' is not a range" in failed.stderr


# --- Prometheus --------------------------------------------------------------------------------------------

HISTORY = 3 * 86400
LCP_EDGES = ("1.0", "1.75", "2.0", "2.5", "3.0", "4.0", "+Inf")


def _openmetrics(now: int) -> str:
    """Three days of /backfilled every 5 minutes up to an hour ago: 12 page loads per step at 2.5-3.0 s in the
    first half, at 1.0-1.75 s in the second; 100 GET /api/items per step answered 200 in 50-100 ms and one
    answered 500 in 250-500 ms."""
    start, switch = now - HISTORY, now - HISTORY // 2
    lcp, http_lines = [], []
    slow = fast = ok = failed = 0
    for ts in range(start, now - 3600, 300):
        if ts < switch:
            slow += 12
        else:
            fast += 12
        ok, failed = ok + 100, failed + 1
        for le in LCP_EDGES:
            count = (fast if le not in ("1.0",) else 0) + (slow if le in ("3.0", "4.0", "+Inf") else 0)
            lcp.append(f'perfbudget_lcp_seconds_bucket{{route="/backfilled",le="{le}"}} {count} {ts}')
        lcp.append(f'perfbudget_lcp_seconds_count{{route="/backfilled"}} {slow + fast} {ts}')
        lcp.append(f'perfbudget_lcp_seconds_sum{{route="/backfilled"}} {slow * 2.75 + fast * 1.4:.3f} {ts}')
        for code, count, le_from, each in (("200", ok, 0.1, 0.08), ("500", failed, 0.5, 0.3)):
            labels = f'http_route="/api/items",http_request_method="GET",http_response_status_code="{code}"'
            for le in ("0.05", "0.1", "0.25", "0.5", "+Inf"):
                value = count if le == "+Inf" or float(le) >= le_from else 0
                http_lines.append(f'http_server_request_duration_seconds_bucket{{{labels},le="{le}"}} {value} {ts}')
            http_lines.append(f"http_server_request_duration_seconds_count{{{labels}}} {count} {ts}")
            http_lines.append(f"http_server_request_duration_seconds_sum{{{labels}}} {count * each:.3f} {ts}")
    return "\n".join(["# TYPE perfbudget_lcp_seconds histogram", *lcp,
                      "# TYPE http_server_request_duration_seconds histogram", *sorted_by_series(http_lines),
                      "# EOF", ""])


def sorted_by_series(lines: list[str]) -> list[str]:
    """OpenMetrics wants each series' points together, in time order."""
    return sorted(lines, key=lambda line: (line.rsplit(" ", 2)[0], int(line.rsplit(" ", 1)[1])))


@pytest.fixture(scope="module")
def prom(served: tuple[Server, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv, _ = served
    tmp = tmp_path_factory.mktemp("prometheus")
    source = tmp / "history.om"
    lines = _openmetrics(int(time.time())).splitlines()
    # each family's series together: the LCP series sorted too
    head, rest = lines[:1], lines[1:]
    lcp_end = rest.index("# TYPE http_server_request_duration_seconds histogram")
    source.write_text("\n".join([*head, *sorted_by_series(rest[:lcp_end]), *rest[lcp_end:]]) + "\n")
    done = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(tmp / "tsdb")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with prometheus(tmp, [f"127.0.0.1:{srv.port}"]) as server:
        query = 'perfbudget_lcp_seconds_count{route="/products/:id"}'
        wait_for(lambda: prom_query(server, query)["result"], 60, what="Prometheus to scrape the exporter's LCP")
        # What a counter held before its first scrape is no increase to Prometheus: page loads after it are.
        page = "http://shop.test/products/{}"
        batch = [beacon("LCP", 2200 + 10 * i, f"lcp-late-{i}", page=page.format(i)) for i in range(20)]
        batch += [beacon("CLS", 0.02 * (i % 8), f"cls-late-{i}", page=page.format(i)) for i in range(20)]
        for start in range(0, len(batch), 20):
            status, body = http("POST", f"{srv.url}/api/web-vitals", batch[start:start + 20])
            assert status == 200, body
        wait_for(lambda: float(prom_query(server, query)["result"][0]["value"][1]) == 60, 60,
                 what="Prometheus to scrape the later page loads")
        yield server


def test_the_report_from_prometheus_reads_the_histograms_over_the_range(
        served: tuple[Server, Path], prom: Server) -> None:
    _, tmp = served
    done, output = _report(tmp, "--range", "3d", "--source", prom.url, "--format", "json",
                           "--config.file", str(tmp / "perfbudget.yml"))
    data = json.loads(output.read_text())["data"]
    assert f"perfbudget report: {prom.url} is Prometheus" in done.stderr and "prometheus: query 1:" in done.stderr
    assert data["source"] == f"prometheus {prom.url}"
    old = data["webVitals"]["routes"]["/backfilled"]["LCP"]
    # Half the loads at 2.5-3.0 s, then half at 1.0-1.75 s: the range's p75 is in the slow bucket, each half's
    # in its own.
    assert 2500 < old["p75"] <= 3000 and 2500 < old["firstHalfP75"] <= 3000
    assert 1000 < old["secondHalfP75"] <= 1750
    assert (old["trend"], old["withinBudget"], old["budget"]["name"]) == ("improving", False, "lcp-site")
    assert old["goodShare"] == pytest.approx(0.5, abs=0.02)
    live = data["webVitals"]["routes"]["/products/:id"]["LCP"]
    assert live["withinBudget"] is False and 1750 < live["p75"] <= 2500
    metrics = data["metrics"]
    assert metrics["errorRate"] == pytest.approx(100 / 101, rel=0.05)
    assert metrics["avgResponseTime"] == pytest.approx((100 * 80 + 300) / 101, rel=0.05)
    assert metrics["totalRequests"] == pytest.approx(101 * (HISTORY - 3600) / 300, rel=0.1)
    assert metrics["uptime"] == 100.0
    assert data["trends"]["errorRate"] == "stable" and data["trends"]["responseTime"] == "stable"
    assert {r["playbookId"] for r in data["recommendations"]} >= {"optimize-images", "error-rate-burn"}
    points = [p for p in data["series"]["vitals"]["LCP"]["points"] if p["p75"] is not None]
    assert len(points) >= 20
    assert "playbookOutcomes" in data["unavailable"]


def test_a_range_past_the_retention_is_read_from_the_configured_prometheus(
        served: tuple[Server, Path], prom: Server) -> None:
    _, tmp = served
    config = tmp / "report.yml"
    config.write_text(yaml.safe_dump({"budgets_file": str(tmp / "budgets.yaml"), "prometheus": {"url": prom.url}}))
    done, output = _report(tmp, "--range", "40d", "--config.file", str(config), "--format", "json")
    assert "40d is past the exporter's 30d (metrics_retention_days): reading prometheus.url" in done.stderr
    data = json.loads(output.read_text())["data"]
    assert data["source"] == f"prometheus {prom.url}" and data["range"]["seconds"] == 40 * 86400
    assert data["webVitals"]["routes"]["/backfilled"]["LCP"]["withinBudget"] is False


def _drawn(page: Any, chart: str) -> dict[str, Any]:
    """What the browser drew in one chart: its scale, each point's value and y, the budget line's value and y."""
    drawn: dict[str, Any] = page.evaluate("""(id) => {
        const svg = document.getElementById(id);
        const num = (el, name) => parseFloat(el.getAttribute(name));
        const budget = svg.querySelector('line.budget');
        return {
            top: num(svg, 'data-plot-top'), height: num(svg, 'data-plot-height'),
            min: num(svg, 'data-y-min'), max: num(svg, 'data-y-max'),
            points: [...svg.querySelectorAll('circle.point')].map(c => ({
                ts: num(c, 'data-ts'), value: num(c, 'data-value'), cy: c.cy.baseVal.value,
                title: c.querySelector('title').textContent})),
            budget: budget && {value: num(budget, 'data-value'), y: budget.y1.baseVal.value},
            box: svg.getBoundingClientRect().height,
        };
    }""", chart)
    return drawn


def test_chromium_draws_the_report_charts_from_the_json(served: tuple[Server, Path], prom: Server) -> None:
    _, tmp = served
    args = ["--range", "3d", "--source", prom.url, "--config.file", str(tmp / "perfbudget.yml")]
    _, json_file = _report(tmp, *args, "--format", "json")
    _, html_file = _report(tmp, "--source", str(json_file), "--format", "html")  # the same numbers, drawn
    data = json.loads(json_file.read_text())["data"]
    with chromium() as browser:
        page = browser.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(html_file.as_uri())
        assert requests == [html_file.as_uri()], "the report must load nothing else"
        for name in ("LCP", "CLS"):
            series = data["series"]["vitals"][name]
            drawn = _drawn(page, f"p75-{name}")
            assert drawn["box"] > 100

            def y(value: float, drawn: dict[str, Any] = drawn) -> float:
                scale = (value - drawn["min"]) / (drawn["max"] - drawn["min"])
                return float(drawn["top"] + drawn["height"] * (1 - scale))

            expected = [(p["ts"], p["p75"]) for p in series["points"] if p["p75"] is not None]
            assert [(p["ts"], p["value"]) for p in drawn["points"]] == expected
            assert expected, name
            for point in drawn["points"]:
                assert point["cy"] == pytest.approx(y(point["value"]), abs=0.01)
                assert point["title"].startswith(f"{name} p75 ")
            assert drawn["budget"]["value"] == series["budget"]["target"]
            assert drawn["budget"]["y"] == pytest.approx(y(series["budget"]["target"]), abs=0.01)
        shares = page.evaluate("""() => [...document.querySelectorAll('#good-share circle.point')]
            .filter(c => c.dataset.series === 'LCP').map(c => parseFloat(c.dataset.value))""")
        assert shares == [round(p["goodShare"] * 100, 4) for p in data["series"]["vitals"]["LCP"]["points"]
                          if p["goodShare"] is not None]
        api = page.evaluate("""() => [...document.querySelectorAll('#api-errors circle.point')]
            .map(c => parseFloat(c.dataset.value))""")
        assert api == [p["errorRate"] for p in data["series"]["api"]["points"] if p["errorRate"] is not None]
        assert api, "the API error rate chart is drawn"


def test_chromium_draws_the_api_and_outcome_charts_of_a_perfbudget_report(served: tuple[Server, Path]) -> None:
    srv, tmp = served
    _, json_file = _report(tmp, "--range", "1h", "--source", srv.url, "--format", "json")
    _, html_file = _report(tmp, "--source", str(json_file), "--format", "html")
    data = json.loads(json_file.read_text())["data"]
    with chromium() as browser:
        page = browser.new_page()
        page.goto(html_file.as_uri())
        latency = page.evaluate("""() => [...document.querySelectorAll('#api-latency circle.point')]
            .filter(c => c.dataset.series === 'mean')
            .map(c => [parseFloat(c.dataset.ts), parseFloat(c.dataset.value)])""")
        assert latency == [[p["ts"], p["avgResponseTime"]] for p in data["series"]["api"]["points"]
                           if p["avgResponseTime"] is not None]
        assert latency, "the API latency chart is drawn"
        bars = page.evaluate("""() => [...document.querySelectorAll('#outcomes rect.bar')]
            .map(r => [r.dataset.group, r.dataset.series, parseFloat(r.dataset.value)])""")
        expected = [[p["playbookId"], key, p[key]] for p in data["playbookOutcomes"]["playbooks"] if p["runs"]
                    for key in ("dryRuns", "executions", "succeeded")]
        assert bars == expected and ["optimize-images", "dryRuns", 1] in bars
        assert page.inner_text("#metrics td[data-key=totalRequests]") == str(data["metrics"]["totalRequests"])
