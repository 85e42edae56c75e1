"""LCP subparts and INP phases against a real `perfbudget serve` (granian, 2 workers) with sites: beacons with
breakdowns from several clients at once, /metrics (promtool accepts it; every worker's observations counted
once), a bad breakdown kept out and counted, the summary's breakdown and the fix its dominant part chooses,
and the summary's p75 of a part equal to what the real Prometheus's histogram_quantile answers on the scrape."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .stack import beacon, exporter, http, prom_query, prometheus, wait_for

CONFIG = {"sites": [{"name": "shop", "hosts": ["shop.test"]}, {"name": "blog", "hosts": ["blog.test"]}],
          "beacons": {"allowed_origins": []},
          "budgets_file": "budgets.yaml"}
BUDGETS = "vitals:\n  - metric: LCP\n    name: lcp-site\n    target: 2000\n    severity: critical\n"


def lcp(i: int, delay: float, page: str = "https://shop.test/cart") -> dict[str, Any]:
    parts = {"timeToFirstByte": 200.0 + i % 7, "resourceLoadDelay": delay + 10 * (i % 11),
             "resourceLoadDuration": 500.0 + 5 * (i % 13), "elementRenderDelay": 100.0}
    return beacon("LCP", sum(parts.values()), f"lcp-{page}-{i}", page=page, device="desktop",
                  attribution={"url": "https://shop.test/img/hero.jpg", "target": "img.hero", **parts})


def inp(i: int) -> dict[str, Any]:
    phases = {"inputDelay": 150.0 + i, "processingDuration": 60.0, "presentationDelay": 40.0}
    return beacon("INP", sum(phases.values()), f"inp-{i}", page="https://shop.test/cart", device="phone",
                  attribution={"interactionTarget": "a.menu", **phases})


def test_breakdowns_are_recorded_by_every_worker_exposed_and_summarised(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "budgets.yaml").write_text(BUDGETS)
    with exporter(tmp_path, config={**CONFIG, "budgets_file": str(tmp_path / "budgets.yaml")}, workers=2) as srv:
        reports = [lcp(i, 1500) for i in range(60)] + [inp(i) for i in range(30)]
        reports += [lcp(i, 300, page="https://blog.test/post/1") for i in range(20)]
        bad = beacon("LCP", 900, "bad-1", page="https://shop.test/cart", device="desktop",
                     attribution={"timeToFirstByte": 100, "resourceLoadDelay": 5000, "resourceLoadDuration": 0,
                                  "elementRenderDelay": 0})

        def send(report: dict[str, Any]) -> int:
            origin = "https://blog.test" if "blog.test" in report["pageUrl"] else "https://shop.test"
            return http("POST", f"{srv.url}/api/web-vitals", [report],
                        {"Content-Type": "text/plain", "Origin": origin})[0]

        with ThreadPoolExecutor(8) as pool:  # several connections: both workers take some
            assert set(pool.map(send, [*reports, bad])) == {200}
        status, text = http("GET", f"{srv.url}/metrics")
        assert status == 200
        checked = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True,
                                 timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        counts: dict[tuple[str, ...], float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name in ("perfbudget_lcp_subpart_seconds_count", "perfbudget_inp_phase_seconds_count"):
                    key = (s.labels["route"], s.labels["device"], s.labels["site"],
                           s.labels.get("subpart") or s.labels["phase"])
                    counts[key] = s.value
                    assert "version" not in s.labels and "navigation_type" not in s.labels
        assert counts[("/cart", "desktop", "shop", "resource_load_delay")] == 60  # not the bad one
        assert counts[("/post/:id", "desktop", "blog", "time_to_first_byte")] == 20, counts
        assert counts[("/cart", "phone", "shop", "input_delay")] == 30
        assert len(counts) == 4 + 4 + 3
        assert 'perfbudget_subparts_dropped_total{reason="inconsistent",vital="LCP"} 1.0' in text
        assert 'perfbudget_lcp_seconds_count{device="desktop",route="/cart",site="shop"} 61.0' in text

        status, answer = http("GET", f"{srv.url}/api/web-vitals?page=/cart")
        assert status == 200
        parts = answer["metrics"]["LCP"]["breakdown"]
        assert parts["dominant"] == "resource_load_delay" and parts["samples"] == 60
        fix = answer["metrics"]["LCP"]["suggestedFix"]
        assert fix["playbookId"] == "optimize-images" and fix["cause"]["action"] == "preload-lcp-image"
        lcp_sentence = answer["vitals"][0]["diagnosis"]
        assert "Its largest subpart is resource load delay" in lcp_sentence, lcp_sentence
        phases = answer["metrics"]["INP"]["breakdown"]
        assert phases["dominant"] == "input_delay" and phases["samples"] == 30
        status, blog = http("GET", f"{srv.url}/api/web-vitals?site=blog")
        assert status == 200 and blog["metrics"]["LCP"]["breakdown"]["samples"] == 20
        assert blog["metrics"]["LCP"]["breakdown"]["counts"].startswith("since the exporter started")

        # The summary's part p75s are PromQL's histogram_quantile on the same counts.
        with prometheus(tmp_path / "prom", [f"127.0.0.1:{srv.port}"]) as prom:
            total = "sum(perfbudget_lcp_subpart_seconds_count)"
            wait_for(lambda: (r := prom_query(prom, total)["result"]) and float(r[0]["value"][1]) == 4 * 80,
                     30, what="Prometheus scraped every subpart")
            status, everything = http("GET", f"{srv.url}/api/web-vitals")
            assert status == 200
            for part in everything["metrics"]["LCP"]["breakdown"]["parts"]:
                query = (f'histogram_quantile(0.75, sum by (le) (perfbudget_lcp_subpart_seconds_bucket'
                         f'{{subpart="{part["name"]}"}}))')
                promql = float(prom_query(prom, query)["result"][0]["value"][1])
                assert abs(part["p75"] - 1000 * promql) <= 0.05, (part, promql)
