"""A summary that sees every replica: two `perfbudget serve` replicas, a real Prometheus scraping both, and
`prometheus.summary: prometheus`: each replica's GET /api/web-vitals counts the page views of both, says it
read Prometheus, and falls back to its own counts (saying why) when Prometheus is gone. Without the setting
and without a shared database (`auto`), a replica answers from its own store as before."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .stack import PERFBUDGET, Server, beacon, exporter, free_port, http, prom_query, prometheus, wait_for

pytestmark = pytest.mark.integration
PAGE = "http://shop.test/checkout"


def _lcp(srv: Server) -> tuple[dict[str, Any], dict[str, Any]]:
    status, answer = http("GET", f"{srv.url}/api/web-vitals?page={PAGE}&window=1h")
    assert status == 200, answer
    return answer["metrics"]["LCP"], answer["source"]


def _send(srv: Server, prefix: str, count: int, lcp: float) -> None:
    batch = [beacon("LCP", lcp, f"{prefix}-{i}", page=PAGE) for i in range(count)]
    assert http("POST", f"{srv.url}/api/web-vitals", batch)[0] == 200


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Server], Server]]:
    tmp = tmp_path_factory.mktemp("summary-replicas")
    ports = [free_port(), free_port()]
    with prometheus(tmp / "prometheus", [f"127.0.0.1:{p}" for p in ports]) as prom:
        config = {"prometheus": {"url": prom.url, "summary": "prometheus"}}
        with exporter(tmp / "a", workers=1, config=config, port=ports[0]) as a, \
                exporter(tmp / "b", workers=1, config=config, port=ports[1]) as b:
            # One page view each first, so that Prometheus has the series before the counted ones arrive
            # (an increase counts from a series' first sample).
            _send(a, "warm-a", 1, 1000)
            _send(b, "warm-b", 1, 1000)
            wait_for(lambda: len(prom_query(prom, 'perfbudget_lcp_seconds_count{route="/checkout"}')["result"]) == 2,
                     30, what="Prometheus to scrape both replicas' series")
            _send(a, "a", 20, 1200)
            _send(b, "b", 20, 3900)
            wait_for(lambda: prom_query(prom, 'sum(perfbudget_lcp_seconds_count{route="/checkout"}) == 42')["result"],
                     30, what="Prometheus to scrape the page views")
            # Prometheus extrapolates an increase past its first and last samples by up to a scrape interval
            # at each end; 15 s of 1 s scrapes make that a few per cent (with hours of history, nothing).
            time.sleep(15)
            yield [a, b], prom


def test_each_replica_s_summary_counts_the_page_views_of_both(stack: tuple[list[Server], Server]) -> None:
    (a, b), prom = stack
    for replica in (a, b):
        lcp, source = _lcp(replica)
        assert source == {"kind": "prometheus", "url": prom.url, "covers": "every replica Prometheus scrapes"}
        # 40 counted page views (Prometheus extrapolates an increase a little past the samples) and the warm-ups
        # partly: far above the 21 a replica holds.
        assert 38 <= lcp["samples"] <= 46, lcp
        assert lcp["value"] > 2500  # b's slow half decides the p75: a alone would say 1.2 s


def test_without_prometheus_a_replica_answers_from_its_own_store_and_says_why(
        stack: tuple[list[Server], Server]) -> None:
    (a, _), prom = stack
    prom.proc.send_signal(signal.SIGTERM)
    prom.proc.wait(20)
    wait_for(lambda: _lcp(a)[1]["kind"] == "local", 15, what="the summary to fall back")  # cached answers age out
    lcp, source = _lcp(a)
    assert lcp["samples"] == 21 and source["problem"].startswith("Prometheus did not answer, so the exporter's own "
                                                                  f"counts: {prom.url}")


def test_auto_without_a_shared_database_stays_local(tmp_path: Path) -> None:
    with exporter(tmp_path, workers=1, config={"prometheus": {"url": "http://127.0.0.1:9"}}) as srv:
        _send(srv, "solo", 3, 1000)
        lcp, source = _lcp(srv)
    assert source == {"kind": "local", "covers": "the beacons this exporter received"} and lcp["samples"] == 3


def test_summary_prometheus_without_a_url_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "perfbudget.yml"
    config.write_text("prometheus:\n  summary: prometheus\n")
    done = subprocess.run([*PERFBUDGET, "check", "--config.file", str(config)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "summary: prometheus reads the summary's windows from Prometheus: set prometheus.url" in done.stdout + \
        done.stderr
