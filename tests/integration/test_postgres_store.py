"""The shared store on a real PostgreSQL: what SQLite's single writer guarantees on one host holds across
replicas. Each `Store` here has its own connections, as a replica's would: to the server they are as
separate as two machines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from perfbudget.db import DatabaseUnreachable, PostgresDatabase
from perfbudget.db.postgres import check_reachable
from perfbudget.playbooks.records import NewRun, RunResult
from perfbudget.playbooks.store import Store

from .postgres import PASSWORD, Postgres, postgres_server
from .stack import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def url(pg: Postgres, request: pytest.FixtureRequest) -> str:
    return pg.create_database(request.node.name[:60].lower())


def _alert(starts_at: str, playbook: str = "nap") -> NewRun:
    return NewRun(playbook, "dry-run", {"type": "alert", "receiver": "perfbudget"},
                  idem_key=f"{playbook}\x1ffp\x1f{starts_at}", fingerprint="fp", starts_at=starts_at)


def _at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """`work(i)` in `count` threads released together; their results (an exception counts as one)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # the test looks at it
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_the_same_delivery_recorded_at_once_by_two_replicas_is_one_run(url: str) -> None:
    replicas = [Store(PostgresDatabase(url)), Store(PostgresDatabase(url))]
    for round_ in range(15):
        starts_at = f"2025-05-01T10:{round_:02d}:00Z"
        results = _at_once(8, lambda i, at=starts_at: replicas[i % 2].record_delivery(  # type: ignore[misc]
            [_alert(at)], [], queue_size=100, cooldown_seconds=0))
        assert not [r for r in results if isinstance(r, Exception)], results
        ids = {r.submitted[0].run.id for r in results}
        assert len(ids) == 1, ids  # every sender was told about the same run
        assert sorted(r.submitted[0].duplicate for r in results) == [False] + [True] * 7
    runs = replicas[0].recent(limit=100)
    assert len(runs) == 15 and {run.deliveries for run in runs} == {8}
    assert {len([e for e in (replicas[1].get(run.id, events=True) or run).events
                 if e["event"] == "duplicate-delivery"]) for run in runs} == {7}


def test_a_queued_run_is_claimed_by_exactly_one_replica_and_the_concurrency_limit_holds_across_them(
    url: str,
) -> None:
    replicas = [Store(PostgresDatabase(url)) for _ in range(3)]
    for n in range(20):
        replicas[n % 3].submit(NewRun("nap", "dry-run", {"type": "manual"}), queue_size=100)
    claimed = _at_once(12, lambda i: replicas[i % 3].claim(f"{i}:owner", max_concurrent=3))
    won = [run for run in claimed if run is not None]
    assert not [r for r in claimed if isinstance(r, Exception)], claimed
    # Three may run at once (max_concurrent 3): three claims win, each a different run, whoever asked.
    assert len(won) == 3 and len({run.id for run in won}) == 3
    for run in won:
        events = replicas[0].get(run.id, events=True)
        assert events is not None and [e["event"] for e in events.events].count("running") == 1
    assert replicas[1].count("running") == 3 and replicas[2].count("queued") == 17


def test_a_run_whose_replica_stops_renewing_its_lease_is_marked_interrupted_by_another(url: str) -> None:
    crashed, survivor = Store(PostgresDatabase(url), lease_seconds=3), Store(PostgresDatabase(url), lease_seconds=3)
    run = crashed.submit(NewRun("nap", "execute", {"type": "manual"}), queue_size=10)
    held = crashed.claim("111:dead", max_concurrent=1)
    assert held is not None and held.id == run.id
    survivor.submit(NewRun("nap", "execute", {"type": "manual"}), queue_size=10)
    alive = survivor.claim("222:alive", max_concurrent=5)
    assert alive is not None
    assert survivor.interrupt_orphans(lambda owner: False) == []  # both leases are fresh: nobody is cut off
    started = time.monotonic()
    while time.monotonic() - started < 6:  # the survivor's heartbeat; the crashed one renews nothing
        survivor.renew("222:alive")
        time.sleep(0.5)
    gone = survivor.interrupt_orphans(lambda owner: True)  # `alive` (a pid check) is not what decides here
    assert [r.id for r in gone] == [run.id]
    assert gone[0].state == "interrupted" and "111:dead" in gone[0].message and "lease lapsed" in gone[0].message
    assert crashed.interrupt_orphans(lambda owner: True) == []  # noticed once, by whoever came first
    current = crashed.get(alive.id)
    assert current is not None and current.state == "running"
    # The cut-off replica was only slow: its end comes after the interruption, which stands.
    late = crashed.finish(run.id, "succeeded", "done", RunResult(playbook_name="Nap"))
    assert late.state == "interrupted" and late.result.playbook_name == "Nap"  # kept, for a rollback
    events = crashed.get(run.id, events=True)
    assert events is not None and [e["event"] for e in events.events][-2:] == ["interrupted",
                                                                               "ended-after-interruption"]
    assert events.events[-1]["state"] == "succeeded"


def test_the_schema_is_created_and_migrated_once_when_replicas_start_at_once(pg: Postgres, url: str) -> None:
    # An audit log of an older version: `runs` without ends_at and outcome, one run that ended.
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE SCHEMA perfbudget")
        db.execute("CREATE TABLE perfbudget.runs (id TEXT PRIMARY KEY, playbook TEXT NOT NULL, mode TEXT NOT NULL, "
                   "state TEXT NOT NULL, idem_key TEXT UNIQUE, fingerprint TEXT, starts_at TEXT, alert_status TEXT, "
                   "resolved_at DOUBLE PRECISION, trigger TEXT NOT NULL, options TEXT NOT NULL, created_at DOUBLE "
                   "PRECISION NOT NULL, started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, owner TEXT, "
                   "message TEXT NOT NULL DEFAULT '', result TEXT NOT NULL DEFAULT '{}', deliveries INTEGER NOT NULL "
                   "DEFAULT 1)")
        db.execute("INSERT INTO perfbudget.runs (id, playbook, mode, state, trigger, options, created_at) VALUES "
                   "('0001-old', 'nap', 'execute', 'succeeded', '{}', '{}', 1)")
    fresh = pg.create_database("fresh_schema_at_once")
    for target in (url, fresh):
        stores = _at_once(10, lambda i, t=target: Store(PostgresDatabase(t)))  # type: ignore[misc]
        assert all(isinstance(s, Store) for s in stores), stores
        with psycopg.connect(target) as db:
            columns = {r[0] for r in db.execute("SELECT column_name FROM information_schema.columns WHERE "
                                                "table_schema = 'perfbudget' AND table_name = 'runs'")}
            tables = {r[0] for r in db.execute("SELECT table_name FROM information_schema.tables WHERE "
                                               "table_schema = 'perfbudget'")}
        assert {"ends_at", "outcome"} <= columns and tables == {"runs", "events", "resolved_alerts", "leases"}
    old = Store(PostgresDatabase(url)).get("0001-old")
    assert old is not None and old.outcome == "" and old.ends_at is None  # settled once, loads as before


def test_an_unreachable_database_is_named_without_its_password(pg: Postgres) -> None:
    closed = f"postgresql://perfbudget:{PASSWORD}@127.0.0.1:{free_port()}/runs"
    problem = check_reachable(closed, 2)
    assert problem is not None and PASSWORD not in problem
    assert problem.startswith("cannot reach the database postgresql://perfbudget:***@127.0.0.1:"), problem
    with pytest.raises(DatabaseUnreachable) as raised:
        Store(PostgresDatabase(closed, 2))
    assert PASSWORD not in str(raised.value) and "perfbudget:***@" in str(raised.value)
    wrong = pg.url(password="not-the-password")
    problem = check_reachable(wrong, 2)
    assert problem is not None and "not-the-password" not in problem and "password authentication failed" in problem
    assert check_reachable(pg.url(), 2) is None


def test_the_version_moves_when_an_earlier_transaction_commits_after_a_later_one(url: str) -> None:
    store = Store(PostgresDatabase(url))
    run = store.submit(NewRun("nap", "dry-run", {"type": "manual"}), queue_size=10)
    event = "INSERT INTO perfbudget.events (run_id, ts, event, detail) VALUES (%s, 0, 'test', '{}')"
    with psycopg.connect(url) as slow, psycopg.connect(url, autocommit=True) as quick:
        slow.execute(event, (run.id,))  # takes its sequence number, does not commit yet
        quick.execute(event, (run.id,))  # a higher one, committed
        seen = store.version()
        slow.commit()
    assert store.version() != seen  # a cache keyed on the version sees the late commit
    before = store.version()
    store.claim("1:me", max_concurrent=1)
    assert store.version() != before


def test_a_replica_starting_while_others_write_never_deadlocks_with_them(url: str) -> None:
    """Starting prepares the schema (CREATE INDEX IF NOT EXISTS locks its table); the others meanwhile prune,
    claim and finish, taking the same tables in other orders."""
    live = Store(PostgresDatabase(url))
    for _ in range(30):
        live.submit(NewRun("nap", "dry-run", {"type": "manual"}), queue_size=100)

    def work(i: int) -> object:
        if i % 3 == 0:
            return Store(PostgresDatabase(url))  # a replica starting
        if i % 3 == 1:
            return live.prune(time.time() + 1)  # forgets the ended dry runs: events first, then runs
        run = live.claim(f"{i}:w", max_concurrent=100)
        return run and live.finish(run.id, "succeeded", "done", RunResult())

    for _ in range(15):
        results = _at_once(9, work)
        assert not [r for r in results if isinstance(r, Exception)], results
