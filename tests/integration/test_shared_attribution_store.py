"""The attribution top-K and the summary's frames in a real PostgreSQL (database.url), in process: workers'
tables written once per flush (however many beacons), merged across workers by a reader, past workers'
rows folded into one without losing a count, and the frames of two runs read back exactly as SQLite does."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from perfbudget.attribution import AttributionStore
from perfbudget.db import DatabaseUnreachable, PostgresDatabase
from perfbudget.snapshot_backlog import FrameBacklog
from perfbudget.snapshots import SnapshotStore

from .postgres import Postgres, postgres_server
from .postgres_outage import start_postgres, stop_postgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def database(pg: Postgres, request: pytest.FixtureRequest) -> Iterator[PostgresDatabase]:
    db = PostgresDatabase(pg.create_database(request.node.name[:40].replace("[", "_").replace("]", "")))
    yield db
    db.close()


def _lcp(url: str) -> dict[str, str]:
    return {"url": f"{url}?v=3", "target": "main > img.hero"}


def test_a_workers_beacons_are_one_upsert_per_flush_and_another_worker_reads_them(database: PostgresDatabase) -> None:
    a, b = AttributionStore(None, 5, database=database), AttributionStore(None, 5, database=database)
    for i in range(1000):
        a.record("LCP", "/products/:id", _lcp("https://shop.test/hero.jpg" if i % 4 else "https://shop.test/b.png"))
        a.record_page("/products/:id", f"https://shop.test/products/{i % 3}")
    assert b.top("lcp.url", "/products/:id") == []  # nothing written yet: the beacons only touched memory
    a.flush()
    assert a.shared is not None and a.shared.writes == 1  # type: ignore[attr-defined]
    time.sleep(1.1)  # a reader reuses what it read for a second
    assert b.top("lcp.url", "/products/:id") == [("https://shop.test/hero.jpg", 750), ("https://shop.test/b.png", 250)]
    assert b.diagnosis("LCP", "/products/:id")["lcpElements"] == [{"value": "main > img.hero", "count": 1000}]
    assert b.page_url("/products/:id") == "https://shop.test/products/0"
    a.flush()  # unchanged: no upsert (a touch at most every 20 s)
    assert a.shared.writes == 1  # type: ignore[attr-defined]


def test_workers_tables_add_up_and_a_past_worker_s_are_merged_once(database: PostgresDatabase) -> None:
    past, live = (AttributionStore(None, 6, flush_seconds=0.05, database=database) for _ in range(2))
    rng = random.Random(4)
    truth: dict[str, int] = {}
    for store in (past, live):
        for _ in range(300):
            target = f"#button-{min(int(rng.expovariate(0.5)), 9)}"
            truth[target] = truth.get(target, 0) + 1
            store.record("INP", "/cart", {"interactionTarget": target})
        store.flush()
    reader = AttributionStore(None, 6, flush_seconds=0.05, database=database)
    time.sleep(1.1)
    merged = dict(reader.top("inp.target", "/cart", limit=3))
    top3 = sorted(truth.items(), key=lambda kv: -kv[1])[:3]
    assert list(merged) == [target for target, _ in top3]  # the heavy hitters, in order
    for target, count in top3:
        assert merged[target] >= count  # Space-Saving overestimates, never under
    time.sleep(0.7)  # past's row is older than 12 flushes of 0.05 s; live's too, but live flushes again first
    live.record("INP", "/cart", {"interactionTarget": "#button-0"})
    live.flush()
    assert reader.merge_past() == 1  # past's row (the reader has none of its own)
    assert live.merge_past() == 0  # merged already: nothing twice
    with psycopg.connect(database.url) as raw:
        workers = {row[0] for row in raw.execute("SELECT worker FROM perfbudget.attribution_workers")}
    assert "merged" in workers and len(workers) == 2  # merged + live
    time.sleep(1.1)
    after = dict(reader.top("inp.target", "/cart", limit=3))
    assert after["#button-0"] == merged["#button-0"] + 1  # nothing lost, nothing counted twice


def _traffic(minutes: int, routes: int) -> list[dict[str, dict[str, list[int]]]]:
    rng = random.Random(7)
    counts = {vital: {f"/r{i}": [0] * 6 for i in range(routes)} for vital in ("LCP", "INP")}
    out = []
    for _ in range(minutes):
        for by_route in counts.values():
            for row in by_route.values():
                for _ in range(rng.randint(0, 4)):
                    row[rng.randrange(6)] += 1
        out.append({vital: {route: list(row) for route, row in by_route.items()} for vital, by_route in counts.items()})
    return out


def test_frames_in_postgresql_read_back_as_in_sqlite(database: PostgresDatabase, tmp_path: Path) -> None:
    stores = [SnapshotStore(tmp_path / "summary.sqlite"), SnapshotStore(tmp_path / "unused.sqlite", database=database)]
    frames = _traffic(150, 20)
    for store in stores:
        for run in ("replica-a", "replica-b"):
            store.begin_epoch(run, 0.0, {"LCP": [1.0, 2.0, 3.0, 4.0, 5.0], "INP": [0.1, 0.2, 0.3, 0.4, 0.5]})
            for minute, rows in enumerate(frames):
                assert store.save(run, 60 * minute, rows)
            assert not store.save(run, 60 * 149, frames[0])  # the first worker to store a minute wins
    assert not (tmp_path / "unused.sqlite").exists()
    for t in (0, 3599, 3600, 60 * 149 + 30):
        sqlite, shared = (store.heads(t) for store in stores)
        assert set(sqlite) == set(shared) == {"replica-a", "replica-b"}
        for run in sqlite:
            assert stores[0].frame(sqlite[run]).rows == stores[1].frame(shared[run]).rows == frames[min(t // 60, 149)]
            assert stores[0].on(sqlite[run], None) == stores[1].on(shared[run], None)
    final = _traffic(151, 20)[-1]
    assert stores[1].save("replica-a", 60 * 149, final, replace=True)  # a worker's last snapshot as it stops
    assert stores[1].frame(stores[1].heads(60 * 149)["replica-a"]).rows == final
    assert stores[1].ladders(["replica-a"])["replica-a"]["LCP"] == (1.0, 2.0, 3.0, 4.0, 5.0)


def test_frames_the_database_does_not_take_wait_in_memory_and_are_written_when_it_is_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with postgres_server(durable=True) as own:  # a server of its own: this test stops it (a crash)
        database = PostgresDatabase(own.create_database("backlog"), connect_timeout=1)
        store = SnapshotStore(tmp_path / "unused.sqlite", database=database)
        store.begin_epoch("run", 0.0)
        frames = _traffic(5, 3)
        assert store.save("run", 0, frames[0])
        stop_postgres(own)
        restarted = None
        try:
            started = time.monotonic()
            for minute in (1, 2, 3):
                assert not store.has("run", 60 * minute)
                assert not store.save("run", 60 * minute, frames[minute])  # kept, not raised
                assert store.has("run", 60 * minute)  # kept counts as stored: the other workers skip it
            assert time.monotonic() - started < 10
            store.check()  # /-/ready stays green
            assert store.backlog is not None and len(store.backlog) == 3
            warnings = [r for r in caplog.records if "does not answer (summary snapshots)" in r.getMessage()]
            assert len(warnings) == 1 and "pg-test-secret" not in warnings[0].getMessage()
        finally:
            restarted = start_postgres(own)
        for _ in range(3):  # the pool's connections to the stopped server fail once each, then a fresh one
            if store.save("run", 240, frames[4]):
                break
        assert len(store.backlog) == 0
        heads = {t: store.heads(t)["run"] for t in (0, 60, 120, 180, 240)}
        assert [store.frame(heads[t]).rows for t in sorted(heads)] == frames
        assert any("answers again (summary snapshots)" in r.getMessage() for r in caplog.records)
        database.close()
    restarted.wait(30)


def test_the_backlog_keeps_the_newest_frames_up_to_its_bound() -> None:
    backlog = FrameBacklog("postgresql://user:***@db/perfbudget", max_frames=3)

    def down(epoch: str, ts: int, rows: dict[str, dict[str, list[int]]], replace: bool) -> bool:
        raise DatabaseUnreachable("cannot reach the database postgresql://user:***@db/perfbudget")

    frames = _traffic(5, 2)
    for minute, rows in enumerate(frames):
        assert not backlog.save("run", 60 * minute, rows, False, down)
    assert len(backlog) == 3 and backlog.dropped == 2
    assert [backlog.pending("run", 60 * m) for m in range(5)] == [False, False, True, True, True]
    written: list[tuple[int, dict[str, dict[str, list[int]]]]] = []

    def up(epoch: str, ts: int, rows: dict[str, dict[str, list[int]]], replace: bool) -> bool:
        written.append((ts, rows))
        return True

    assert backlog.save("run", 300, frames[-1], False, up)
    assert [ts for ts, _ in written] == [120, 180, 240, 300]  # oldest first, then the new one
    assert [rows for _, rows in written[:3]] == frames[2:]
