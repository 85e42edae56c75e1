"""Two real `perfbudget serve` replicas on one real PostgreSQL (`database.url` from PERFBUDGET_DATABASE_URL):
an Alertmanager pair's copies of one delivery make one run, each run is executed by exactly one replica
within the playbook's concurrency limit across both, a replica killed mid-run has its run marked interrupted
by the other once its lease lapses, and a database that cannot be reached stops `serve` and `check` with a
message that names it without its password.

The replicas start at once on an empty database: both create and migrate the schema (under its lock).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg.rows import dict_row

from ..playbooks.conftest import alert, payload
from .postgres import PASSWORD, Postgres, postgres_server
from .stack import PERFBUDGET, Server, exporter, free_port, http, wait_for, workers

pytestmark = pytest.mark.integration

TOKEN = "replica-test-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
LEASE_SECONDS = 3


def _nap(seconds: float) -> dict[str, Any]:
    return {
        "id": "nap", "name": "Nap", "metric": "LCP", "category": "test", "impact": "low", "effort": "low",
        "description": "Sleeps: a run that takes a while.", "expectedImprovement": "none",
        "match": ['alertname="ReplicaTest"'],
        "actions": [{"id": "sleep", "description": "Sleep", "kind": "command", "automated": True, "risk": "safe",
                     "params": {"command": "nap", "args": [str(seconds)], "timeout_seconds": 120}}],
    }


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@contextmanager
def replicas(tmp: Path, url: str, nap_seconds: float, count: int = 2) -> Iterator[list[Server]]:
    """`count` replicas started at once (one worker process each), sharing the database at `url`."""
    books = tmp / "books"
    books.mkdir(parents=True, exist_ok=True)
    (books / "nap.yaml").write_text(yaml.safe_dump(_nap(nap_seconds)))
    site = tmp / "site"  # the command action runs in it
    site.mkdir(exist_ok=True)
    config = {
        "site_root": str(site),
        "auth": {"tokens": [{"name": "ci", "token": TOKEN}]},
        "actions": {"commands": {"nap": ["sleep"]}},
        "playbooks": {"directory": str(books), "execute": ["nap"], "cooldown_seconds": 0, "queue_size": 400},
        "database": {"lease_seconds": LEASE_SECONDS},
    }
    servers: list[Server | None] = [None] * count
    errors: list[BaseException] = []
    with ExitStack() as stack:
        lock = threading.Lock()

        def start(index: int) -> None:
            manager = exporter(tmp / f"replica-{index}", config=config, env={"PERFBUDGET_DATABASE_URL": url},
                               workers=1)
            try:
                server = manager.__enter__()
            except BaseException as exc:  # raised below, in the test's thread
                errors.append(exc)
                return
            with lock:
                stack.push(manager.__exit__)
                servers[index] = server

        threads = [threading.Thread(target=start, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        if errors:
            raise errors[0]
        yield [server for server in servers if server is not None]


def _rows(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as db:
        return db.execute(sql, args or None).fetchall()


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            continue
        for child in children:
            found |= {child, *_descendants(child)}
    return found


def test_one_delivery_posted_to_both_replicas_at_once_is_one_run(pg: Postgres, tmp_path: Path) -> None:
    url = pg.create_database("one_delivery")
    rounds, senders = 12, 6
    with replicas(tmp_path, url, nap_seconds=0) as servers:
        for round_ in range(rounds):
            body = payload(alert(fingerprint="fp-replicas", starts_at=f"2025-05-01T10:{round_:02d}:00.000Z",
                                 alertname="ReplicaTest", metric="none"))
            barrier = threading.Barrier(senders)
            answers: list[Any] = [None] * senders

            def send(i: int, body: dict[str, Any] = body, answers: list[Any] = answers,
                     barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                answers[i] = http("POST", f"{servers[i % 2].url}/api/alertmanager", body, BEARER, timeout=30)

            threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert [status for status, _ in answers] == [200] * senders, answers
            # The nap's run (a bundled playbook whose matchers take this alert too would have its own).
            naps = [[r for r in answer["runs"] if r["playbookId"] == "nap"] for _, answer in answers]
            assert all(len(r) == 1 for r in naps), answers
            assert len({r[0]["id"] for r in naps}) == 1, answers  # every sender, on either replica, names one run
            assert sorted(r[0]["duplicate"] for r in naps) == [False] + [True] * (senders - 1), answers
    stored = _rows(url, "SELECT starts_at, COUNT(*) AS runs, SUM(deliveries) AS deliveries "
                        "FROM perfbudget.runs WHERE playbook = 'nap' GROUP BY starts_at")
    assert len(stored) == rounds and {(r["runs"], r["deliveries"]) for r in stored} == {(1, senders)}, stored


def test_each_execute_is_claimed_by_one_replica_and_the_concurrency_limit_spans_both(
    pg: Postgres, tmp_path: Path,
) -> None:
    url = pg.create_database("one_claim")
    count = 8
    with replicas(tmp_path, url, nap_seconds=0.5) as servers:
        ids = []
        for n in range(count):
            status, body = http("POST", f"{servers[n % 2].url}/api/perf-fix",
                                {"playbookId": "nap", "dryRun": False, "autoApprove": True}, BEARER, timeout=30)
            assert status in (200, 202), body
            ids.append(body["id"])

        def ended() -> bool:
            states = {r["state"] for r in _rows(url, "SELECT state FROM perfbudget.runs")}
            return states == {"succeeded"}

        wait_for(ended, 60, what="every execute to end")
        applied = _rows(url, "SELECT result FROM perfbudget.runs")
        assert all('"status":"applied"' in r["result"] for r in applied), applied  # each one really slept
        pids = set().union(*(workers(s) for s in servers))
    runs = _rows(url, "SELECT id, owner, started_at, finished_at FROM perfbudget.runs ORDER BY started_at")
    assert sorted(r["id"] for r in runs) == sorted(ids)
    claims = _rows(url, "SELECT run_id, COUNT(*) AS n FROM perfbudget.events WHERE event = 'running' GROUP BY run_id")
    assert {r["n"] for r in claims} == {1} and len(claims) == count
    assert {int(r["owner"].split(":")[0]) for r in runs} <= pids  # claimed by the replicas' workers
    # max_concurrent_per_playbook is 1: across both replicas, one nap at a time.
    for earlier, later in itertools.pairwise(runs):
        assert earlier["finished_at"] <= later["started_at"], runs


def test_a_replica_killed_mid_run_has_its_run_marked_interrupted_by_the_other(pg: Postgres, tmp_path: Path) -> None:
    url = pg.create_database("killed_replica")
    with replicas(tmp_path, url, nap_seconds=30) as servers:
        status, body = http("POST", f"{servers[0].url}/api/perf-fix",
                            {"playbookId": "nap", "dryRun": False, "autoApprove": True}, BEARER, timeout=30)
        assert status in (200, 202), body
        run_id = body["id"]

        def running() -> dict[str, Any] | None:
            rows = _rows(url, "SELECT owner FROM perfbudget.runs WHERE id = %s AND state = 'running'", run_id)
            return rows[0] if rows else None

        owner_pid = int(wait_for(running, 30, what="the nap to run")["owner"].split(":")[0])
        holder = next(s for s in servers if owner_pid in workers(s))
        other = next(s for s in servers if s is not holder)
        doomed = {holder.proc.pid, *_descendants(holder.proc.pid)}  # master, worker, the sleep it runs
        for pid in doomed:
            os.kill(pid, signal.SIGKILL)
        holder.proc.wait(10)
        killed = time.monotonic()

        def interrupted() -> dict[str, Any] | None:
            status, run = http("GET", f"{other.url}/api/perf-fix/runs/{run_id}")
            assert status == 200, run
            return run if run["state"] == "interrupted" else None

        run = wait_for(interrupted, 20, what="the other replica to mark the run interrupted")
        noticed = time.monotonic() - killed
        assert noticed < 30  # long before the nap itself would have ended
        assert "lease lapsed" in run["message"] and f"database.lease_seconds is {LEASE_SECONDS}" in run["message"]
        events = _rows(url, "SELECT event FROM perfbudget.events WHERE run_id = %s ORDER BY seq", run_id)
        assert [e["event"] for e in events] == ["queued", "running", "interrupted"]
        # The survivor still takes new work.
        status, body = http("POST", f"{other.url}/api/perf-fix", {"playbookId": "nap", "dryRun": True},
                            timeout=30)
        assert status in (200, 202), body


def test_serve_and_check_refuse_a_database_they_cannot_reach_and_never_show_its_password(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://perfbudget:{PASSWORD}@127.0.0.1:{port}/runs"
    shown = f"postgresql://perfbudget:***@127.0.0.1:{port}/runs"
    config = tmp_path / "perfbudget.yml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "database": {"connect_timeout_seconds": 2}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PERFBUDGET_", "PROMETHEUS_"))}
    env["PERFBUDGET_DATABASE_URL"] = url
    for command in (["check"], ["serve", "--web.listen-address", f"127.0.0.1:{free_port()}"]):
        done = subprocess.run([*PERFBUDGET, *command, "--config.file", str(config)], env=env, capture_output=True,
                              text=True, timeout=60)
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert f"cannot reach the database {shown}: " in output and "Connection refused" in output, output
        assert PASSWORD not in output, output
    # A URL that is not PostgreSQL's is a config error that hides the value.
    env["PERFBUDGET_DATABASE_URL"] = f"mysql://perfbudget:{PASSWORD}@127.0.0.1/runs"
    done = subprocess.run([*PERFBUDGET, "check", "--config.file", str(config)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and PASSWORD not in done.stdout + done.stderr
    assert "environment PERFBUDGET_DATABASE_URL: database.url: (hidden): must be a PostgreSQL URL" in done.stdout + \
        done.stderr
