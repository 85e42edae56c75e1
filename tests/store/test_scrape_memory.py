"""What a scrape keeps and builds: one key per series for every slab and family, no second mapping of the
reader's own slab, no row of Python numbers per series for a whole family, and the same bytes over
several slabs, also while writers write."""

from __future__ import annotations

import gc
import math
import multiprocessing
import re
import time
import tracemalloc
from array import array
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as client_text

from perfbudget.store import FamilySpec, Reader, StoreCollector, Table, exposition, generate_latest

from . import workers
from .specs import vitals_specs

LCP = "perfbudget_lcp_seconds"
CLS = "perfbudget_cls"
CTX = multiprocessing.get_context("spawn")


def observe(table: Table, name: str, labels: tuple[str, str], *values: float) -> None:
    observer = table.histogram(name).observer(labels)
    assert observer is not None
    for value in values:
        observer(value)


def test_a_series_is_one_label_tuple_for_every_slab_and_family(make_table: Callable[..., Table],
                                                               tmp_path: Path) -> None:
    first, second = make_table(directory=tmp_path), make_table(directory=tmp_path)
    for table in (first, second):
        observe(table, LCP, ("/cart", "phone"), 0.2)
        observe(table, CLS, ("/cart", "phone"), 0.01)
    reader = Reader(make_table(directory=tmp_path))
    lcp = next(k for k in reader.read(LCP) if k == ("/cart", "phone"))
    cls = next(k for k in reader.read(CLS) if k == ("/cart", "phone"))
    assert lcp is cls  # one tuple kept for the two families of the two slabs, not four
    assert lcp is next(k for k in reader.rows(LCP) if k == ("/cart", "phone"))  # and across reads
    assert next(k for k in reader.read(LCP) if k == ("other", "phone"))[1] is lcp[1]  # its values interned


def test_the_reader_maps_its_own_slab_once(make_table: Callable[..., Table], tmp_path: Path) -> None:
    if not Path("/proc/self/maps").exists():
        pytest.skip("needs /proc/self/maps")
    own, other = make_table(directory=tmp_path), make_table(directory=tmp_path)
    observe(own, LCP, ("/", "phone"), 0.2)
    observe(other, LCP, ("/", "phone"), 0.3)
    reader = Reader(own)
    assert reader.read(LCP)[("/", "phone")].count == 2
    maps = Path("/proc/self/maps").read_text()
    assert own.slab.path is not None and other.slab.path is not None
    assert maps.count(str(own.slab.path)) == 1  # the writer's mapping, read through, not a second one
    assert maps.count(str(other.slab.path)) == 2  # other's own (this test's process writes it) and the reader's
    reader.close()
    observe(own, LCP, ("/", "phone"), 0.2)  # closing the reader leaves the writer's mapping alone
    reader = Reader(own)
    assert reader.read(LCP)[("/", "phone")].count == 3
    own.close()  # the table's mapping goes: the reader maps the file it left
    assert reader.read(LCP)[("/", "phone")].count == 3


def test_a_scrape_builds_no_row_per_series_for_the_whole_family(make_table: Callable[..., Table]) -> None:
    edges = tuple(round(0.01 * 1.25**i, 6) for i in range(32))
    series = 4000
    spec = FamilySpec.histogram(LCP, "LCP.", ("route", "device"), edges, capacity=series)
    table = make_table(specs=[spec])
    hist = table.histogram(LCP)
    for i in range(series):
        observer = hist.observer((f"/section-{i}/", "phone"))
        assert observer is not None
        observer(0.05 * (1 + i % 40))
    # counts of a busy site (past 256, so each is an int object of its own), as a quiet writer leaves them
    words, n = spec.slot_words, spec.slot_words - 2
    base = table.layout.regions[0].values_offset // 8
    q = table.slab.q
    for i in range(series):
        slot = base + i * words
        q[slot + 1 : slot + 1 + n] = array("Q", range(1000 + i, 1000 + i + n))
        q[slot] = 2 * sum(range(1000 + i, 1000 + i + n))
    reader = Reader(table)
    size = sum(map(len, exposition.text(reader)))  # the keys are decoded and kept from the first scrape on
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        largest = max(map(len, exposition.text(reader)))
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # Its peak is a chunk's text (its lines, joined, encoded) and one copy of the slab's slots (~3.9 MB);
    # rows of Python ints for the whole family as the scrape once built (~8.4 MB) are far over the bound.
    slots = series * spec.slot_words * 8
    assert size > 10 * largest
    assert peak < 3 * largest + 2 * slots, (peak, largest, slots)


def test_the_text_over_several_slabs_is_client_pythons(make_table: Callable[..., Table], tmp_path: Path) -> None:
    tables = [make_table(directory=tmp_path, specs=vitals_specs(capacity=512)) for _ in range(3)]
    for n, table in enumerate(tables):
        for i in range(300):  # more than a chunk; some series in one slab, some in two, some in three
            if i % 3 <= n:
                observe(table, LCP, (f"/r{i}", "phone"), 0.1 * (i % 7) + 1e-9 * n, 1 / 3 + n, 1e7 * n)
        table.counter("perfbudget_reports_rejected_total").incrementer(("invalid_json",))(0.1 * (n + 1))  # type: ignore[misc]
    reader = Reader(tables[0])
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(reader))
    assert generate_latest(reader) == client_text(registry)


_SAMPLE = re.compile(r"^perfbudget_lcp_seconds_(bucket|count|sum)\{(.*)\} (\S+)$")


def test_the_text_while_writers_write_shows_every_series_consistent(make_table: Callable[..., Table],
                                                                    tmp_path: Path) -> None:
    procs = [CTX.Process(target=workers.write, args=(str(tmp_path), 2, 20_000)) for _ in range(2)]
    for proc in procs:
        proc.start()
    reader = Reader(make_table(directory=tmp_path, specs=workers.specs()))
    scrapes = 0
    deadline = time.monotonic() + 20
    while any(proc.is_alive() for proc in procs) and time.monotonic() < deadline:
        series: dict[str, dict[str, list[float]]] = {}
        for line in generate_latest(reader).decode().splitlines():
            match = _SAMPLE.match(line)
            if match:
                labels = re.sub(r'le="[^"]*",', "", match[2])
                series.setdefault(labels, {}).setdefault(match[1], []).append(float(match[3]))
        for route, one in series.items():
            buckets, (count,), (total,) = one["bucket"], one["count"], one["sum"]
            assert buckets == sorted(buckets) and count == buckets[-1], route
            # each observation is LOW (le="0.5") or HIGH: the sum agrees with the bucket counts read with it
            low = buckets[1]
            assert math.isclose(total, low * workers.LOW + (count - low) * workers.HIGH), (route, one)
        scrapes += 1
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    assert scrapes >= 3  # the scrapes overlapped the writes
    assert len(series) == len(workers.ROUTES)
