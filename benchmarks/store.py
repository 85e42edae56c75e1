"""client_python's multiprocess mode against the shared-memory store, side by side, at 1k / 10k / 50k series.

    .venv/bin/python benchmarks/store.py [--steps 1000,10000,50000] [--skip-client-above N]

A series is one (vital, route, device) histogram with 32 bucket edges; two writer processes (spawned)
each observe every series once, so there are two files (two slabs) per kind to read. Each scrape runs
in a fresh spawned process, which reports its scrape time, the exposition's bytes and its RSS growth
(peak RSS during the scrape minus RSS before it). Store rows: "store+client" renders StoreCollector
with client_python's generate_latest, "store" with the byte-identical fast path (exposition.py), and
"store om" its OpenMetrics twin, "store stream" the text chunks written one at a time as a WSGI server
writes an iterable body (no joined body: the RSS it needs); "read" is the read API over every series of the five vitals.
Then the per-observation cost of each hot path. Figures, no assertions.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
import timeit
from bisect import bisect_left
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from perfbudget.store import FamilySpec, Reader, StoreCollector, Table
from perfbudget.store import generate_latest as store_text
from perfbudget.store import generate_latest_openmetrics as store_openmetrics
from perfbudget.store.exposition import text as store_chunks

VITALS = ("lcp_seconds", "inp_seconds", "fcp_seconds", "ttfb_seconds", "cls")
DEVICES = ("phone", "tablet", "desktop", "unknown")
EDGES = tuple(round(0.01 * 1.25**i, 6) for i in range(32))  # 0.01 .. ~10, 32 edges
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def labels(i: int) -> tuple[str, str]:
    return f"/section-{i // len(DEVICES)}/", DEVICES[i % len(DEVICES)]


def specs(series: int) -> list[FamilySpec]:
    per_vital = series // len(VITALS)
    return [FamilySpec.histogram(f"perfbudget_{v}", f"Real-user {v} per page load.", ("route", "device"), EDGES,
                                 capacity=per_vital + 16) for v in VITALS]


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --- writers (spawned) ------------------------------------------------------------------------------


def write_client(series: int, out: multiprocessing.Queue[Any]) -> None:
    """Runs with PROMETHEUS_MULTIPROC_DIR set: prometheus_client picked its mmap values at import."""
    registry = CollectorRegistry()
    hists = [Histogram(f"perfbudget_{v}", "h", ("route", "device"), buckets=EDGES, registry=registry)
             for v in VITALS]
    for i in range(series // len(VITALS)):
        for h in hists:
            h.labels(*labels(i)).observe(0.3)
    child = hists[0].labels(*labels(0))
    n = 20_000
    by_labels = timeit.timeit(lambda: hists[0].labels("/section-0/", "phone").observe(0.3), number=n) / n
    cached = timeit.timeit(lambda: child.observe(0.3), number=n) / n
    out.put({"labels().observe": by_labels, "child.observe": cached, "rss": rss_kib() / 1024})


def write_store(directory: str, series: int, out: multiprocessing.Queue[Any]) -> None:
    table = Table(specs(series), Path(directory))
    hists = [table.histogram(f"perfbudget_{v}") for v in VITALS]
    for i in range(series // len(VITALS)):
        for h in hists:
            observe = h.observer(labels(i))
            assert observe is not None
            observe(0.3)
    observe = hists[0].observer(labels(0))
    assert observe is not None
    n = 200_000
    locked = timeit.timeit(lambda: observe(0.3), number=n) / n
    out.put({"store observer": locked, "store observer, no lock": _unlocked_cost(table, n), "rss": rss_kib() / 1024})


def _unlocked_cost(table: Table, n: int) -> float:
    """The same four stores without the process lock: what a slab per thread would cost per observation."""
    q, d = table.slab.q, table.slab.d
    edges = list(EDGES)
    base, total = 1000, 1000 + len(EDGES) + 2
    local = threading.local()
    local.q, local.d = q, d

    def observe(value: float) -> None:
        i = base + 1 + bisect_left(edges, value)
        mine = local.q
        mine[base] += 1
        mine[i] += 1
        local.d[total] += value
        mine[base] += 1

    return timeit.timeit(lambda: observe(0.3), number=n) / n


# --- scrapes (spawned, one per measurement) ---------------------------------------------------------


def scrape(kind: str, directory: str, series: int, out: multiprocessing.Queue[Any]) -> None:
    table = Table(specs(series), Path(directory))
    body, streamed = b"", 0
    reader = Reader(table)
    before = rss_kib()
    started = time.perf_counter()
    if kind == "client":
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    elif kind == "store+client":
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StoreCollector(reader))
        body = generate_latest(registry)
    elif kind == "store":
        body = store_text(reader)
    elif kind == "store om":
        body = store_openmetrics(reader)
    elif kind == "store stream":  # as a WSGI server writes an iterable body: one chunk at a time
        streamed = sum(len(chunk) for chunk in store_chunks(reader))
    else:  # read
        for v in VITALS:
            reader.read(f"perfbudget_{v}")
    first = time.perf_counter() - started
    grown = peak_kib() - before
    started = time.perf_counter()
    if kind.startswith("store") or kind == "read":
        if kind == "read":
            for v in VITALS:
                reader.read(f"perfbudget_{v}")
        elif kind == "store+client":
            generate_latest(registry)
        elif kind == "store stream":
            sum(len(chunk) for chunk in store_chunks(reader))
        else:
            (store_text if kind == "store" else store_openmetrics)(reader)
        again: float | None = time.perf_counter() - started
    else:
        again = None
    out.put({"first": first, "again": again, "bytes": streamed if kind == "store stream" else len(body),
             "rss": grown / 1024})


def run(ctx: multiprocessing.context.SpawnContext, target: Any, *args: Any) -> Any:
    out: multiprocessing.Queue[Any] = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    result = out.get(timeout=1800)
    proc.join(60)
    return result


def disk(directory: Path) -> tuple[float, float]:
    files = [p.stat() for p in directory.iterdir() if p.is_file()]
    return sum(s.st_size for s in files) / 2**20, sum(s.st_blocks * 512 for s in files) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="1000,10000,50000")
    parser.add_argument("--skip-client-above", type=int, default=10**9, help="skip client_python beyond N series")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    costs: dict[str, float] = {}
    print(f"{len(VITALS)} vitals x {len(EDGES)} edges, 2 writer processes observing every series once")
    print(f"{'series':>7} {'path':<13} {'scrape s':>9} {'again s':>8} {'exposition MiB':>15} "
          f"{'files MiB (apparent/resident)':>30} {'scraper RSS +MiB':>17}")
    try:
        for series in (int(s) for s in args.steps.split(",")):
            client_dir, store_dir = work / f"client-{series}", work / f"store-{series}"
            client_dir.mkdir()
            store_dir.mkdir()
            kinds = ["store+client", "store", "store om", "store stream", "read"]
            writers: dict[str, list[float]] = {"client": [], "store": []}
            if series <= args.skip_client_above:
                os.environ[MULTIPROC_ENV] = str(client_dir)
                try:
                    for _ in range(2):
                        result = run(ctx, write_client, series)
                        writers["client"].append(result.pop("rss"))
                        costs.update(result)
                finally:
                    del os.environ[MULTIPROC_ENV]
                kinds.insert(0, "client")
            for _ in range(2):
                result = run(ctx, write_store, str(store_dir), series)
                writers["store"].append(result.pop("rss"))
                costs.update(result)
            print(f"{series:>7} writer RSS MiB (each, after writing): client "
                  f"{' '.join(f'{x:.0f}' for x in writers['client']) or '-'}, "
                  f"store {' '.join(f'{x:.0f}' for x in writers['store'])}")
            for kind in kinds:
                directory = client_dir if kind == "client" else store_dir
                r = run(ctx, scrape, kind, str(directory), series)
                apparent, resident = disk(directory)
                again = f"{r['again']:.3f}" if r["again"] is not None else "-"
                print(f"{series:>7} {kind:<13} {r['first']:>9.3f} {again:>8} {r['bytes'] / 2**20:>15.2f} "
                      f"{f'{apparent:.1f} / {resident:.1f}':>30} {r['rss']:>17.1f}", flush=True)
            shutil.rmtree(client_dir)
            shutil.rmtree(store_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nper observation (timeit, one series, cached handle where the API has one):")
    for name, seconds in costs.items():
        print(f"  {name:<28} {seconds * 1e9:>8.0f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
