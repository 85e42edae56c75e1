"""Releases against a real `perfbudget serve` (granian, 2 workers): POST /api/releases needs the token, beacons
count under a release on every worker without a restart, the N most recent are kept, a restart keeps them,
and promtool accepts the exposition with the version label."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from .stack import Server, beacon, exporter, http, wait_for

TOKEN = "release-integration-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = {"auth": {"tokens": [{"name": "deploy", "token": TOKEN, "scopes": ["reload"]}]},
          "releases": {"enabled": True, "keep": 2, "refresh_seconds": 0.5}}


def counts(srv: Server, metric: str = "perfbudget_lcp_seconds_count") -> dict[str, float]:
    status, text = http("GET", f"{srv.url}/metrics")
    assert status == 200
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == metric:
                out[s.labels["version"]] = out.get(s.labels["version"], 0) + s.value
    return out


def send(srv: Server, prefix: str, version: str | None, n: int = 40) -> None:
    """n beacons, each on its own connection from 8 threads, so both workers take some."""
    def one(i: int) -> int:
        extra = {"version": version} if version is not None else {}
        return http("POST", f"{srv.url}/api/web-vitals", beacon("LCP", 1800, f"{prefix}-{i}", **extra),
                    {"Content-Type": "text/plain"})[0]
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(n))) == {200}


def test_releases_across_two_workers_and_a_restart(tmp_path: Path) -> None:
    with exporter(tmp_path, config=CONFIG, workers=2) as srv:
        assert http("POST", f"{srv.url}/api/releases", {"version": "2026.12.1"})[0] == 401
        status, body = http("POST", f"{srv.url}/api/releases", {"version": "2026.12.1"}, AUTH)
        assert status == 200 and [r["version"] for r in body["releases"]] == ["2026.12.1"]
        time.sleep(1.0)  # past refresh_seconds on both workers: each reads the list on its next beacon
        send(srv, "a", "2026.12.1")
        send(srv, "b", "9.9.9", n=10)  # never announced
        assert counts(srv) == {"2026.12.1": 40, "other": 10}
        for version in ("2026.12.2", "2026.12.3"):
            assert http("POST", f"{srv.url}/api/releases", {"version": version}, AUTH)[0] == 200
        assert [r["version"] for r in http("GET", f"{srv.url}/api/releases")[1]["releases"]] == [
            "2026.12.3", "2026.12.2"]  # keep 2: 2026.12.1 is gone
        time.sleep(1.0)
        send(srv, "c", "2026.12.1", n=8)
        send(srv, "d", "2026.12.3", n=8)
        assert counts(srv) == {"2026.12.1": 40, "other": 18, "2026.12.3": 8}
        status, summary = http("GET", f"{srv.url}/api/web-vitals?version=2026.12.3")
        assert status == 200 and summary["metrics"]["LCP"]["samples"] == 8
        status, text = http("GET", f"{srv.url}/metrics")
        checked = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True,
                                 timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    with exporter(tmp_path, config=CONFIG, workers=2) as srv:  # a restart keeps the releases
        assert [r["version"] for r in http("GET", f"{srv.url}/api/releases")[1]["releases"]] == [
            "2026.12.3", "2026.12.2"]
        send(srv, "e", "2026.12.2", n=6)
        wait_for(lambda: counts(srv) == {"2026.12.2": 6}, 10, what="the restarted workers count 2026.12.2")
