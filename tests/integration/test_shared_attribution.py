"""Two real `perfbudget serve` replicas on one real PostgreSQL (PERFBUDGET_DATABASE_URL), no Prometheus: the
attribution top-K and the summary's frames are shared. LCP beacons with an LCP image sent to replica A only
are named by replica B's diagnosis (and pageUrl) once A's worker has flushed (every 5 s); every replica's
frames are in the database and a restarted replica keeps them (and counts them); a database stopped
mid-way does not slow the beacons down, the replica logs it once, and what was counted meanwhile is written
when the database is back."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest

from .postgres import Postgres, postgres_server
from .postgres_outage import start_postgres, stop_postgres
from .stack import Server, beacon, exporter, free_port, http, wait_for

pytestmark = pytest.mark.integration

SHOP = "https://shop.test"
HERO = f"{SHOP}/img/hero.avif"
CONFIG = {"routes": {"patterns": ["/products/:id"]}, "server": {"read_cache_seconds": 0}}


def _send(srv: Server, prefix: str, count: int, image: str, value: float = 3100) -> list[float]:
    """`count` LCP reports naming `image`, one beacon each; each answer's seconds."""
    took = []
    for i in range(count):
        report = beacon("LCP", value, f"{prefix}-{i}", page=f"{SHOP}/products/7?session=s3cr3t",
                        attribution={"url": f"{image}?w=800", "target": "main > img.hero"})
        started = time.monotonic()
        status, body = http("POST", f"{srv.url}/api/web-vitals", [report], {"Origin": SHOP}, timeout=5)
        took.append(time.monotonic() - started)
        assert status == 200 and body["received"] == 1, body
    return took


def _lcp(srv: Server) -> dict[str, Any]:
    status, body = http("GET", f"{srv.url}/api/web-vitals?page=/products/1&window=1h")
    assert status == 200, body
    vital: dict[str, Any] = body["vitals"][0]
    assert vital["name"] == "LCP"
    return vital


def _resources(srv: Server) -> dict[str, int]:
    status, body = http("GET", f"{srv.url}/api/web-vitals?page=/products/1&window=1h")
    assert status == 200, body
    return {r["value"]: r["count"] for r in body["metrics"]["LCP"]["diagnosis"]["lcpResources"]}


def _frames(url: str) -> dict[str, int]:
    with psycopg.connect(url) as db:
        return dict(db.execute("SELECT epoch, count(*) FROM perfbudget.frames GROUP BY epoch").fetchall())


class Replicas:
    def __init__(self, tmp: Path, pg: Postgres, url: str) -> None:
        self.tmp, self.pg, self.url = tmp, pg, url
        self.ports = {"a": free_port(), "b": free_port()}
        self.stack = ExitStack()
        self.servers: dict[str, Server] = {}

    def start(self, name: str, workers: int) -> Server:
        self.servers[name] = self.stack.enter_context(exporter(
            self.tmp / name, config=CONFIG, env={"PERFBUDGET_DATABASE_URL": self.url}, workers=workers,
            port=self.ports[name]))
        return self.servers[name]


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    tmp = tmp_path_factory.mktemp("shared-attribution")
    restarted: list[subprocess.Popen[bytes]] = []
    with postgres_server(durable=True) as pg:  # a test stops it as a crash: commits must survive
        group = Replicas(tmp, pg, pg.create_database("shared_attribution"))
        group.restarted = restarted  # type: ignore[attr-defined]
        with group.stack:
            group.start("a", 2)
            group.start("b", 1)
            yield group
    for server in restarted:
        server.wait(30)


def test_replica_b_names_the_lcp_image_of_beacons_only_replica_a_received(replicas: Replicas) -> None:
    a, b = replicas.servers["a"], replicas.servers["b"]
    assert _resources(b) == {}
    took = sorted(_send(a, "hero", 12, HERO))
    print("beacon seconds with the database up: median", took[6], "max", took[-1])
    started = time.monotonic()
    wait_for(lambda: _resources(b).get(HERO) == 12, 30, what="replica B to see A's twelve reports")
    seen_after = time.monotonic() - started
    assert seen_after < 5 + 1 + 3, seen_after  # A's worker flushes every 5 s, B rereads at most every second
    assert _lcp(b)["pageUrl"] == f"{SHOP}/products/7"  # the page URL too, without its query
    _, body = http("GET", f"{b.url}/api/web-vitals?page=/products/1&window=1h")
    assert body["metrics"]["LCP"]["diagnosis"]["lcpElements"] == [{"value": "main > img.hero", "count": 12}]


def test_every_replica_s_frames_are_shared_and_survive_a_restart(replicas: Replicas) -> None:
    a = replicas.servers["a"]
    first = _frames(replicas.url)
    assert len(first) == 2 and all(count >= 1 for count in first.values())  # one run (epoch) per replica
    _send(replicas.servers["b"], "b-before-restart", 5, f"{SHOP}/img/other.png", value=1800)
    replicas.stack.pop_all().close()  # both replicas stop: each writes its last frame
    a = replicas.start("a", 2)
    b = replicas.start("b", 1)
    after = _frames(replicas.url)
    assert set(first) < set(after) and len(after) == 4  # the earlier runs' frames kept, one run more each
    assert all(after[epoch] >= first[epoch] for epoch in first)
    # Both restarted replicas count what each received before (A's twelve, B's five) from the frames.
    for replica in (a, b):
        assert _lcp(replica)["samples"] == 17
        assert _resources(replica) == {HERO: 12, f"{SHOP}/img/other.png": 5}


def test_a_database_stopped_midway_does_not_slow_the_beacons_and_loses_no_attribution(replicas: Replicas) -> None:
    a, b = replicas.servers["a"], replicas.servers["b"]
    stop_postgres(replicas.pg)
    try:
        took = sorted(_send(a, "outage", 40, f"{SHOP}/img/during-outage.webp"))
        print("beacon seconds with the database down: median", took[20], "max", took[-1])
        # Nothing on the beacon path waits for the database (a connect timeout is 5 s): as fast as with it up.
        assert took[20] < 0.05 and took[-1] < 2, took
        wait_for(lambda: "does not answer (attribution top-K)" in a.output(), 15, what="A to log the outage")
        assert http("GET", f"{a.url}/-/ready")[0] == 200  # still taking beacons: the load balancer keeps it
        time.sleep(6)  # a flush interval more: still down, still said once per worker
        assert a.output().count("does not answer (attribution top-K)") <= 2  # once for each of A's workers
    finally:
        replicas.restarted.append(start_postgres(replicas.pg))  # type: ignore[attr-defined]
    # Counted in memory meanwhile, written at A's next flush: B names the image with every report.
    wait_for(lambda: _resources(b).get(f"{SHOP}/img/during-outage.webp") == 40, 30,
             what="B to see the reports A took while the database was down")
    wait_for(lambda: "answers again (attribution top-K)" in a.output(), 15, what="A to log the recovery")
