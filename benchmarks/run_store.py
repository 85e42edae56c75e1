"""The cost of the shared store per playbook run: SQLite (the embedded default) and PostgreSQL side by side.

    .venv/bin/python benchmarks/run_store.py [--runs 300] [--url postgresql://user:password@host/db]

Without --url a local PostgreSQL is started for the measurement (tests/integration/postgres.py, with fsync
and synchronous commits on, as SQLite's synchronous=FULL is) and removed after. Each row is one store
operation a run goes through, in milliseconds per call (median and 95th percentile over --runs calls, one
thread): the webhook's `record_delivery` of one alert, a run started by hand (`submit`), a worker's `claim`,
its `progress` after an action and `finish`, and the poll of an empty queue every worker makes each second
(`claim` finding nothing, with the reaper's `interrupt_orphans`). Figures, no assertions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.integration.postgres

from perfbudget.db import PostgresDatabase
from perfbudget.playbooks.records import NewRun, RunResult
from perfbudget.playbooks.store import Store

OWNER = "1:bench"
T = TypeVar("T")


def measure(store: Store, runs: int, history: int) -> dict[str, list[float]]:
    """Each operation of `runs` runs, one after the other (the queue holds one run at a time, as it mostly
    does), over an audit log that already holds `history` ended runs."""
    result = RunResult(playbook_name="Nap")
    with store._transaction() as db:  # the history in one transaction: only the runs below are measured
        for i in range(history):
            db.execute("INSERT INTO runs (id, playbook, mode, state, trigger, options, created_at, finished_at, "
                       "message, result) VALUES (?, 'old', 'execute', 'succeeded', '{}', '{}', ?, ?, 'done', '{}')",
                       (f"{i:011x}-old", time.time() - 86400, time.time() - 86400))
    out: dict[str, list[float]] = {name: [] for name in ("record_delivery", "submit", "claim", "progress", "finish",
                                                        "empty poll")}

    def timed(name: str, operation: Callable[[], T]) -> T:
        started = time.perf_counter()
        value = operation()
        out[name].append((time.perf_counter() - started) * 1000)
        return value

    for i in range(runs):
        if i % 2:
            timed("submit", lambda: store.submit(NewRun("nap", "dry-run", {"type": "manual"}), queue_size=100))
        else:
            timed("record_delivery", lambda i=i: store.record_delivery(  # type: ignore[misc]
                [NewRun("nap", "dry-run", {"type": "alert"}, idem_key=f"nap\x1ffp\x1f{i}", fingerprint="fp",
                        starts_at=str(i))], [], queue_size=100, cooldown_seconds=0))
        run = timed("claim", lambda: store.claim(OWNER, max_concurrent=1))
        assert run is not None
        timed("progress", lambda run=run: store.progress(run.id, result, "1 of 1 actions done"))  # type: ignore[misc]
        timed("finish", lambda run=run: store.finish(run.id, "succeeded", "done", result))  # type: ignore[misc]
        timed("empty poll", lambda: (store.interrupt_orphans(lambda owner: True), store.claim(OWNER, 1)))
    return out


@contextmanager
def local_postgres() -> Iterator[str]:
    from tests.integration.postgres import postgres_server

    with postgres_server(durable=True) as pg:
        yield pg.create_database("run_store_bench")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--history", type=int, default=2000, help="ended runs already in the audit log")
    parser.add_argument("--url", help="an existing PostgreSQL (its tables go in schema perfbudget)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = measure(Store(Path(tmp) / "runs.sqlite"), args.runs, args.history)
    if args.url:
        store = Store(PostgresDatabase(args.url))
        postgres = measure(store, args.runs, args.history)
        where = store.location
    else:
        with local_postgres() as url:
            store = Store(PostgresDatabase(url))
            postgres = measure(store, args.runs, args.history)
            store.close()
            where = "a local PostgreSQL (fsync on)"
    print(f"ms per call over {args.runs} runs, one thread, {args.history} ended runs in the log; SQLite in a "
          f"temporary file, PostgreSQL at {where}")
    print(f"{'operation':<16} {'sqlite p50':>10} {'p95':>7} {'postgres p50':>13} {'p95':>7}")
    for name in sqlite:
        a, b = sqlite[name], postgres[name]
        print(f"{name:<16} {statistics.median(a):>10.2f} {_p95(a):>7.2f} {statistics.median(b):>13.2f} "
              f"{_p95(b):>7.2f}")
    per_run = ("record_delivery", "claim", "progress", "finish")
    print(f"{'a run (alert)':<16} {sum(statistics.median(sqlite[n]) for n in per_run):>10.2f} {'':>7} "
          f"{sum(statistics.median(postgres[n]) for n in per_run):>13.2f}   (medians of record_delivery + claim + "
          "one progress + finish)")
    return 0


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


if __name__ == "__main__":
    sys.exit(main())
