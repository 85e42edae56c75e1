"""Issue 11, point 7: configured routes are admitted at start and never crowded out. Junk paths sent first
fill only what is left of routes.max_routes, across both workers and after a worker respawn."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .stack import Server, beacon, exporter, http, kill_one_worker, wait_for

pytestmark = pytest.mark.integration
MAX_ROUTES = 20


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("routes")
    config = {"routes": {"patterns": ["/products/:id", "/cart"], "max_routes": MAX_ROUTES}}
    with exporter(tmp, workers=2, config=config) as server:
        yield server


def _send(srv: Server, path: str) -> None:
    status, body = http("POST", f"{srv.url}/api/web-vitals",
                        [beacon("TTFB", 100.0, f"v1-{time.monotonic_ns()}", page=f"http://shop.test{path}")])
    assert status == 200, body


def _ttfb_counts(srv: Server) -> dict[str, float]:
    _, text = http("GET", f"{srv.url}/metrics")
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "perfbudget_ttfb_seconds":
            for sample in family.samples:
                if sample.name.endswith("_count"):
                    route = sample.labels["route"]
                    counts[route] = counts.get(route, 0.0) + sample.value
    return counts


def test_junk_paths_sent_first_do_not_crowd_out_the_configured_routes(srv: Server) -> None:
    for n in range(200):  # each on a new connection, so both workers admit junk
        _send(srv, f"/junk-page-{chr(97 + n % 26)}{chr(97 + n // 26)}")
    for _ in range(8):
        _send(srv, "/products/42")
        _send(srv, "/cart")
    counts = _ttfb_counts(srv)
    assert counts.get("/products/:id") == 8 and counts.get("/cart") == 8, counts
    junk = [route for route in counts if route.startswith("/junk")]
    assert len(junk) == MAX_ROUTES - 2, junk  # unmatched paths share what the patterns leave
    assert counts["other"] == 200 - len(junk)


def test_a_respawned_worker_sees_the_same_table(srv: Server) -> None:
    before = _ttfb_counts(srv)
    admitted = sorted(route for route in before if route.startswith("/junk"))
    kill_one_worker(srv)
    after_kill = _ttfb_counts(srv)  # the killed worker's slab is gone with it: compare increases from here
    for _ in range(8):
        _send(srv, "/products/43")
        _send(srv, admitted[0])
        _send(srv, "/junk-after-respawn")
    wait_for(lambda: _ttfb_counts(srv).get("/products/:id", 0) - after_kill.get("/products/:id", 0) == 8, 10,
             what="the respawned worker's reports in /metrics")
    now = _ttfb_counts(srv)
    assert now[admitted[0]] - after_kill.get(admitted[0], 0) == 8  # admitted before the respawn: still its own
    assert "/junk-after-respawn" not in now  # the table is still full for unmatched paths
    assert now["other"] - after_kill.get("other", 0) == 8
