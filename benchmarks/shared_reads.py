"""The cost of the shared store per summary, and its writes: SQLite/files (the embedded default) and PostgreSQL
side by side.

    .venv/bin/python benchmarks/shared_reads.py [--routes 200] [--replicas 3] [--minutes 120] [--url postgresql://...]
                                                [--steady-seconds 60] [--rate 50]

Without --url a local PostgreSQL is started (tests/integration/postgres.py, fsync on) and removed after.
The stores hold what --replicas replicas (runs) wrote over --minutes minutes: a frame a minute each of
--routes routes x five vitals (1-8 page views per series a minute), and each replica's two workers'
attribution top-K (20 values per kind and route). Then, in process, on the real SummaryService, snapshot
stores and AttributionStore:
  * a summary computed fresh (SummaryService.state with a `now`: no cached answer; each call a minute later
    than the one before, so its frames were not decoded yet), all routes and one route, ms median and p95,
    diagnosis and pageUrl from the attribution store included;
  * the attribution read alone: every other worker's tables merged after each of them changed;
  * writing one minute's frame;
  * at a steady --rate beacons a second for --steady-seconds, one worker (its attribution thread flushing
    every 5 s, its snapshot thread once a minute, from its start to its final frame as it stops): the rows
    PostgreSQL's statistics count written to the shared tables (pg_stat_user_tables: inserts, updates and
    deletes; an upsert is one), per minute.
The worst case for the attribution read is measured: every other worker's tables changed since the last
read (each worker rewrites its row at most every 5 s, only when it took beacons); "attr. same" is a
summary while none changed.
Figures, no assertions. The machine's load average is printed: take figures when it is low.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.integration.postgres

from perfbudget.attribution import AttributionStore
from perfbudget.db import Database, PostgresDatabase
from perfbudget.metrics import Metrics
from perfbudget.snapshots import Rows, SnapshotStore
from perfbudget.summary import SummaryService
from perfbudget.vitals import VITALS, bucket_edges

EDGES = {name: bucket_edges(vital) for name, vital in VITALS.items()}
CALLS = 15


def history(routes: int, minutes: int, seed: int) -> Iterator[Rows]:
    """Cumulative frames, a minute apart: every (vital, route) gets 1 to 8 observations a minute."""
    rng = random.Random(seed)
    counts = {name: {f"/r{i}": [0] * (len(EDGES[name]) + 1) for i in range(routes)} for name in EDGES}
    for _ in range(minutes):
        for name, by_route in counts.items():
            width = len(EDGES[name]) + 1
            for row in by_route.values():
                for _ in range(rng.randint(1, 8)):
                    row[min(int(rng.expovariate(0.25)), width - 1)] += 1
        yield {name: {route: list(row) for route, row in by_route.items()} for name, by_route in counts.items()}


def fill(store: SnapshotStore, routes: int, replicas: int, minutes: int, start: int) -> list[float]:
    """The replicas' frames; ms per save."""
    took = []
    for replica in range(replicas):
        epoch = f"replica-{replica}"
        store.begin_epoch(epoch, start, EDGES)
        for minute, rows in enumerate(history(routes, minutes, replica)):
            began = time.perf_counter()
            store.save(epoch, start + 60 * minute, rows)
            took.append((time.perf_counter() - began) * 1000)
    return took


def attribution_tables(make: Callable[[], AttributionStore], routes: int, workers: int) -> list[AttributionStore]:
    stores = []
    rng = random.Random(5)
    for _ in range(workers):
        store = make()
        for i in range(routes):
            for j in range(40):
                store.record("LCP", f"/r{i}", {"url": f"https://shop.test/img/{i}-{j % 25}.jpg",
                                               "target": f"#hero-{j % 3}"})
                store.record("INP", f"/r{i}", {"interactionTarget": f"button.b{rng.randrange(30)}",
                                               "longestScript": {"sourceURL": f"https://shop.test/js/{j % 22}.js"}})
                store.record("CLS", f"/r{i}", {"largestShiftTarget": f"div.ad-{j % 21}"})
                store.record_page(f"/r{i}", f"https://shop.test/r{i}/{j % 10}")
        store.flush()
        stores.append(store)
    return stores


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{statistics.median(ordered):8.1f} {ordered[int(0.95 * (len(ordered) - 1))]:7.1f}"


def measure(database: Database | None, tmp: Path, args: argparse.Namespace, now: int) -> dict[str, list[float]]:
    """`now`: the same minute for both stores, so that their frames fall alike on the hours' keyframes."""
    start = now - 60 * args.minutes
    store = SnapshotStore(tmp / "summary.sqlite", database=database)
    saves = fill(store, args.routes, args.replicas, args.minutes, start)

    def make() -> AttributionStore:
        return AttributionStore(tmp / "attribution", 20, database=database)
    writers = attribution_tables(make, args.routes, 2 * args.replicas - 1)
    reader = make()
    metrics = Metrics(CollectorRegistry(), EDGES, max_routes=args.routes)
    for name in EDGES:
        for i in range(args.routes):
            observe = metrics.vitals[name].observer((f"/r{i}", "desktop"))
            assert observe is not None
            for _ in range(5):
                observe(VITALS[name].good * random.random() * 2)
    service = SummaryService(metrics.reader, EDGES, store, epoch="live", started=now - 600,
                             diagnose=reader.diagnosis, page_url=reader.page_url)
    out: dict[str, list[float]] = {"summary, every route": [], "summary, one route": [],
                                   "summary, all, attr. same": [], "attribution read": [],
                                   "a minute's frame written": saves[-args.minutes:]}
    variants = (("summary, every route", None, True), ("summary, one route", "/r{call}", True),
                ("summary, all, attr. same", None, False))
    for call in range(CALLS):
        for n, (key, route, changed) in enumerate(variants):
            time.sleep(1.05)  # past the second the attribution reader reuses what it read
            for writer in writers if changed else ():  # every other worker's tables changed since the last read
                writer.record("LCP", "/r0", {"url": f"https://shop.test/img/new-{call}.jpg"})
                writer.flush()
            began = time.perf_counter()
            service.state(3600, route and route.format(call=call), now=now - 60 * (3 * call + n))
            out[key].append((time.perf_counter() - began) * 1000)
    for _ in range(CALLS):
        time.sleep(1.05)
        for writer in writers:
            writer.record("LCP", "/r1", {"url": "https://shop.test/img/again.jpg"})
            writer.flush()
        began = time.perf_counter()
        reader.top("lcp.url", "/r1")
        out["attribution read"].append((time.perf_counter() - began) * 1000)
    return out


def steady_writes(database: PostgresDatabase, tmp: Path, args: argparse.Namespace) -> dict[str, float]:
    """Rows written to the shared tables per minute by one worker at a steady beacon rate."""
    store = SnapshotStore(tmp / "steady.sqlite", database=database)
    metrics = Metrics(CollectorRegistry(), EDGES, max_routes=args.routes)
    attribution = AttributionStore(None, 20, database=database)
    service = SummaryService(metrics.reader, EDGES, store, epoch=f"steady-{os.getpid()}", started=time.time())

    def counters() -> dict[str, int]:
        time.sleep(11)  # an idle backend reports its statistics within 10 s (PGSTAT_IDLE_INTERVAL)
        with database.connect() as db:
            rows = db.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS n FROM pg_stat_user_tables "
                              "WHERE schemaname = 'perfbudget' AND relname IN ('attribution_workers', 'frames')")
            return {row["relname"]: int(row["n"]) for row in rows}
    before = counters()
    attribution.start()
    service.start()
    rng = random.Random(9)
    observers = {i: metrics.vitals["LCP"].observer((f"/r{i}", "desktop")) for i in range(args.routes)}
    deadline = time.monotonic() + args.steady_seconds
    beacons = 0
    while time.monotonic() < deadline:
        i = rng.randrange(args.routes)
        observer = observers[i]
        assert observer is not None
        observer(rng.uniform(500, 4000))
        attribution.record("LCP", f"/r{i}", {"url": f"https://shop.test/img/{rng.randrange(50)}.jpg", "target": "img"})
        beacons += 1
        time.sleep(1 / args.rate)
    attribution.close()
    service.close()
    after = counters()
    minutes = args.steady_seconds / 60
    return {"beacons a minute": beacons / minutes,
            **{f"rows written to {name} a minute": (after.get(name, 0) - before.get(name, 0)) / minutes
               for name in ("attribution_workers", "frames")}}


@contextmanager
def local_postgres() -> Iterator[str]:
    from tests.integration.postgres import postgres_server

    with postgres_server(durable=True) as pg:
        yield pg.create_database("shared_reads_bench")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--steady-seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=50, help="beacons a second for the steady writes")
    parser.add_argument("--url", help="an existing PostgreSQL (its tables go in schema perfbudget)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.routes} routes, {args.replicas} replicas' runs of "
          f"{args.minutes} minute frames, {2 * args.replicas - 1} other workers' attribution")
    with tempfile.TemporaryDirectory() as tmp:
        now = int(time.time()) // 60 * 60
        local = measure(None, Path(tmp) / "sqlite", args, now)
        with (contextmanager(lambda: iter([args.url]))() if args.url else local_postgres()) as url:
            database = PostgresDatabase(url)
            shared = measure(database, Path(tmp) / "postgres", args, now)
            steady = steady_writes(database, Path(tmp) / "steady", args) if args.steady_seconds > 0 else {}
            database.close()
    print(f"{'ms':<26} {'sqlite/files p50':>16} {'p95':>7} {'postgresql p50':>15} {'p95':>7}")
    for name in local:
        print(f"{name:<26} {ms(local[name]):>24} {ms(shared[name]):>23}")
    for name, value in steady.items():
        print(f"{name:<40} {value:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
