"""Processes x threads writing at once: exact counts, consistent scrapes, a SIGKILL loses only its in-flight."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

from perfbudget.store import HistogramSeries, Reader, StoreCollector, Table

from . import workers

LCP = "perfbudget_lcp_seconds"
CTX = multiprocessing.get_context("spawn")  # fork after other tests started threads can deadlock


def consistent(series: HistogramSeries) -> bool:
    """Monotone buckets, count == +Inf, and the sum of exactly the observations counted (LOW in le=0.5)."""
    low = series.buckets[1]
    monotone = all(a <= b for a, b in zip(series.buckets, series.buckets[1:], strict=False))
    return monotone and series.count == series.buckets[-1] and series.sum == workers.LOW * low + workers.HIGH * (
        series.count - low)


def test_processes_times_threads_writing_at_once_count_exactly(make_table: Callable[..., Table],
                                                               tmp_path: Path) -> None:
    processes, threads, per_thread = 3, 4, 1500
    procs = [CTX.Process(target=workers.write, args=(str(tmp_path), threads, per_thread)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    series = Reader(make_table(directory=tmp_path, specs=workers.specs())).read(LCP)
    each = processes * threads * per_thread
    assert set(series) == {(route, "phone") for route in workers.ROUTES}
    for one in series.values():
        # edges 0.1, 0.5, 1.0, 2.5, +Inf: half the observations are LOW (0.5), half HIGH (2.0)
        assert one.buckets == [0.0, each / 2, each / 2, each, each]
        assert one.sum == each / 2 * (workers.LOW + workers.HIGH)


def test_a_scrape_while_writers_write_sees_every_series_consistent(make_table: Callable[..., Table],
                                                                   tmp_path: Path) -> None:
    procs = [CTX.Process(target=workers.write, args=(str(tmp_path), 2, 20_000)) for _ in range(2)]
    for proc in procs:
        proc.start()
    reader = Reader(make_table(directory=tmp_path, specs=workers.specs()))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(reader))
    scrapes = 0
    deadline = time.monotonic() + 20
    while any(proc.is_alive() for proc in procs) and time.monotonic() < deadline:
        for one in reader.read(LCP).values():
            assert consistent(one), one
        family = next(iter(registry.collect()))
        grouped: dict[tuple[str, ...], list[Sample]] = {}
        for sample in family.samples:
            grouped.setdefault((sample.labels["route"],), []).append(sample)
        for samples in grouped.values():
            buckets = [s.value for s in samples if s.name.endswith("_bucket")]
            total = next(s.value for s in samples if s.name.endswith("_sum"))
            assert consistent(HistogramSeries(buckets, total))
            assert next(s.value for s in samples if s.name.endswith("_count")) == buckets[-1]
        scrapes += 1
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    assert scrapes >= 3  # the reads overlapped the writes
    final = reader.read(LCP)
    assert all(one.count == 2 * 2 * 20_000 for one in final.values())


def test_a_writer_killed_mid_burst_loses_only_what_it_had_not_finished(make_table: Callable[..., Table],
                                                                       tmp_path: Path) -> None:
    threads = 2
    done = CTX.RawArray("q", threads)
    proc = CTX.Process(target=workers.write_until_killed, args=(str(tmp_path), threads, done))
    proc.start()
    deadline = time.monotonic() + 20
    while sum(done) < 20_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    finished = sum(done)
    assert finished >= 20_000
    reader = Reader(make_table(directory=tmp_path, specs=workers.specs()))
    series = reader.read(LCP)[("/", "phone")]
    assert finished <= series.count <= finished + threads  # at most one in flight per thread
    assert series.buckets == [0.0, 0.0, 0.0, series.count, series.count]  # HIGH (2.0) lands in le=2.5
    # a respawned worker writes a slab of its own; the dead one's counts still count
    respawn = CTX.Process(target=workers.write, args=(str(tmp_path), 1, 100))
    respawn.start()
    respawn.join(30)
    assert reader.read(LCP)[("/", "phone")].count == series.count
    assert reader.read(LCP)[("/r0", "phone")].count == 100
    assert len(list(tmp_path.glob("store-*.slab"))) == 2
