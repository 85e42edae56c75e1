"""Several sites against a real `perfbudget serve` (granian, 2 workers): two sites by host, an unknown host and
a forged site field under other, the origin allowlist derived from the hosts, per-site summaries, and
promtool accepts the exposition with the site label."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .stack import Server, beacon, exporter, http

CONFIG = {"sites": [{"name": "shop", "hosts": ["shop.test"]}, {"name": "blog", "hosts": ["blog.test"]}],
          "beacons": {"allowed_origins": []}}


def counts(srv: Server) -> dict[str, float]:
    status, text = http("GET", f"{srv.url}/metrics")
    assert status == 200
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "perfbudget_lcp_seconds_count":
                out[s.labels["site"]] = out.get(s.labels["site"], 0) + s.value
    return out


def send(srv: Server, items: list[tuple[str, dict[str, Any], str]]) -> list[int]:
    def one(item: tuple[str, dict[str, Any], str]) -> int:
        _metric_id, report, origin = item
        return http("POST", f"{srv.url}/api/web-vitals", report, {"Content-Type": "text/plain", "Origin": origin})[0]
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, items))


def test_two_sites_by_host_and_the_rest_under_other(tmp_path: Path) -> None:
    with exporter(tmp_path, config=CONFIG, workers=2) as srv:
        shop = [(f"s{i}", beacon("LCP", 1200, f"s{i}", page="https://shop.test/cart"), "https://shop.test")
                for i in range(20)]
        blog = [(f"b{i}", beacon("LCP", 3600, f"b{i}", page="https://blog.test/post/1"), "https://blog.test")
                for i in range(12)]
        forged = [(f"f{i}", beacon("LCP", 1000, f"f{i}", page="https://shop.test/", site="nosuch"),
                   "https://shop.test") for i in range(3)]
        unknown = [(f"u{i}", beacon("LCP", 1000, f"u{i}", page="https://elsewhere.test/"), "https://shop.test")
                   for i in range(4)]
        assert set(send(srv, shop + blog + forged + unknown)) == {200}
        assert send(srv, [("x", beacon("LCP", 1000, "x", page="https://evil.test/"), "https://evil.test")]) == [403]
        assert counts(srv) == {"shop": 20, "blog": 12, "other": 7}
        status, text = http("GET", f"{srv.url}/metrics")
        assert 'perfbudget_site_other_total{reason="unknown_site_field"} 3.0' in text
        assert 'perfbudget_site_other_total{reason="unknown_host"} 4.0' in text
        status, answer = http("GET", f"{srv.url}/api/web-vitals?site=blog")
        assert status == 200 and answer["metrics"]["LCP"]["samples"] == 12 and answer["metrics"]["LCP"]["value"] > 3000
        assert http("GET", f"{srv.url}/api/web-vitals?site=nosuch")[0] == 400
        checked = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True,
                                 timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
