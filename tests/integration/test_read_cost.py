"""Anonymous reads under the real server with 2 workers (issue 11, point 3): answers computed once and shared
by the workers, a read rate limit that a token bypasses, and the attribution files of a killed worker
merged (their counts kept) and removed by the live ones."""

from __future__ import annotations

import json
import os
import signal
from http.client import HTTPConnection
from pathlib import Path

import pytest

from .stack import Server, beacon, exporter, http, wait_for, workers

TOKEN = "read-cost-test-token-0123456789"


def _get(server: Server, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One GET on a connection of its own (so the kernel spreads them over both workers)."""
    conn = HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> Server:
    config = {"server": {"read_rate_limit": "off", "read_cache_seconds": 30}}
    with exporter(tmp_path_factory.mktemp("cached"), workers=2, config=config) as server:
        yield server  # type: ignore[misc]


def test_two_workers_share_one_computed_answer_until_new_reports_arrive(cached: Server) -> None:
    reports = [beacon("LCP", 1200, f"shared-{i}", page=f"http://shop.test/p{i}") for i in range(5)]
    assert http("POST", f"{cached.url}/api/web-vitals", reports)[0] == 200
    answers = [_get(cached, "/api/web-vitals?window=30m") for _ in range(40)]
    assert {status for status, _, _ in answers} == {200}
    caches = [headers["x-perfbudget-cache"] for _, headers, _ in answers]
    # 40 connections land on both workers (the kernel spreads them); one computation served them all.
    assert caches.count("miss") == 1, caches
    assert len({body for _, _, body in answers}) == 1
    assert json.loads(answers[0][2])["metrics"]["LCP"]["samples"] == 5

    # A new report: the answer (cached for 30 s while nothing arrives) is reused at most a second more, then
    # computed again, from the slabs as they are now, and shared again.
    assert http("POST", f"{cached.url}/api/web-vitals", [beacon("LCP", 1200, "shared-new")])[0] == 200

    def fresh() -> bool:
        _, _, body = _get(cached, "/api/web-vitals?window=30m")
        return bool(json.loads(body)["metrics"]["LCP"]["samples"] == 6)

    wait_for(fresh, 5, what="the answer with the new report")
    again = [_get(cached, "/api/web-vitals?window=30m") for _ in range(10)]
    assert [headers["x-perfbudget-cache"] for _, headers, _ in again] == ["hit"] * 10
    assert {json.loads(body)["metrics"]["LCP"]["samples"] for _, _, body in again} == {6}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Server:
    config = {"server": {"read_rate_limit": "1/minute"}}
    with exporter(tmp_path_factory.mktemp("limited"), workers=2, config=config,
                  env={"PERFBUDGET_API_TOKEN": TOKEN}) as server:
        yield server  # type: ignore[misc]


@pytest.mark.parametrize("path", ["/api/web-vitals?window=1h", "/"])
def test_anonymous_reads_past_the_limit_get_429_with_retry_after(limited: Server, path: str) -> None:
    answers = [_get(limited, path) for _ in range(6)]
    refused = [(headers, body) for status, headers, body in answers if status == 429]
    # One a minute per client and worker: at most one answer per worker, every other request refused.
    assert len(refused) >= 4, [status for status, _, _ in answers]
    headers, body = refused[0]
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"ok": False, "error": f"read rate limit exceeded; retry in {headers['retry-after']} s"}


def test_a_request_with_a_valid_token_is_not_limited(limited: Server) -> None:
    for _ in range(6):
        _get(limited, "/api/web-vitals?window=6h")  # the anonymous budget is spent
    token = {"Authorization": f"Bearer {TOKEN}"}
    assert [_get(limited, "/api/web-vitals?window=6h", token)[0] for _ in range(6)] == [200] * 6
    wrong = {"Authorization": "Bearer not-the-token-at-all-0000000000"}
    assert 429 in [_get(limited, "/api/web-vitals?window=6h", wrong)[0] for _ in range(4)]


def test_the_attribution_file_of_a_killed_worker_is_merged_with_its_counts_and_removed(tmp_path: Path) -> None:
    with exporter(tmp_path, workers=2, config={"server": {"read_rate_limit": "off", "read_cache_seconds": 0}}) as srv:
        directory = tmp_path / "data" / "attribution"
        # Fresh connections, so both workers take reports and write files.
        for i in range(30):
            report = beacon("LCP", 3100, f"hero-{i}", page="http://shop.test/products/1",
                            attribution={"url": "http://shop.test/img/hero.jpg", "target": "img.hero"})
            assert http("POST", f"{srv.url}/api/web-vitals", [report])[0] == 200
        pids = workers(srv)
        assert len(pids) == 2

        def files_of(pids: set[int]) -> dict[int, Path]:
            found = {int(p.name.split("-", 1)[0]): p for p in directory.glob("*-*.json")}
            return {pid: path for pid, path in found.items() if pid in pids}

        def diagnosed() -> int:
            status, body = http("GET", f"{srv.url}/api/web-vitals?window=1h")
            resources = body["metrics"]["LCP"]["diagnosis"]["lcpResources"]
            return int(resources[0]["count"]) if status == 200 and resources else 0

        wait_for(lambda: len(files_of(pids)) == 2 and diagnosed() == 30, 30,
                 what="both workers' files holding every report")
        victim = max(pids, key=lambda pid: files_of(pids)[pid].stat().st_size)
        victim_file = files_of(pids)[victim]
        assert json.loads(victim_file.read_text())["tables"], "the victim's file holds reports"
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(workers(srv) - pids) == 1, 30, what="granian to respawn the killed worker")
        wait_for(lambda: not victim_file.exists(), 30, what="a live worker to merge the killed worker's file")
        assert (directory / "merged.json").exists()
        assert diagnosed() == 30  # its counts are kept
        live = {path.name.split("-", 1)[0] for path in directory.glob("*-*.json")}
        assert str(victim) not in live
