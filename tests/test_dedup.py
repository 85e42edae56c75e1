"""The cross-worker dedup table: one observation per (id, metric)."""

import multiprocessing
from pathlib import Path

import pytest

from perfbudget.dedup import SeenTable, fingerprint


def test_a_pair_is_new_once_then_a_duplicate() -> None:
    table = SeenTable(1024, 3600)
    fps = [fingerprint("v6-1", "CLS"), fingerprint("v6-1", "INP"), fingerprint("v6-1", "CLS")]
    assert table.first_sightings(fps, now=1000) == [True, True, False]
    assert table.first_sightings(fps[:1], now=1001) == [False]


def test_a_pair_is_forgotten_after_the_ttl() -> None:
    table = SeenTable(1024, 60)
    fp = [fingerprint("v6-1", "LCP")]
    assert table.first_sightings(fp, now=1000) == [True]
    assert table.first_sightings(fp, now=1059) == [False]
    assert table.first_sightings(fp, now=1061) == [True]


def test_a_pair_is_remembered_across_the_wrap_of_the_expiry_clock() -> None:
    """Expiries are seconds modulo 2**22: a pair seen just before the wrap is still seen just after it, and
    forgotten one TTL later, as anywhere else on the clock."""
    table = SeenTable(1024, 60)
    fp = [fingerprint("v6-wrap", "CLS")]
    before_wrap = (1 << 22) * 400 - 10
    assert table.first_sightings(fp, now=before_wrap) == [True]
    assert table.first_sightings(fp, now=before_wrap + 30) == [False]
    assert table.first_sightings(fp, now=before_wrap + 59) == [False]
    assert table.first_sightings(fp, now=before_wrap + 61) == [True]


def test_a_slot_takes_eight_bytes(tmp_path: Path) -> None:
    """The default million slots are 8 MiB (plus a run's spare slots), not 16: each page of the table is
    touched within minutes of traffic, in every worker."""
    SeenTable(1 << 20, 86400, tmp_path / "dedup.bin").close()
    assert (tmp_path / "dedup.bin").stat().st_size == ((1 << 20) + 8) * 8


def test_a_ttl_past_the_expiry_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="dedup TTL"):
        SeenTable(1024, 8 * 86400)


def test_a_full_table_replaces_the_entries_expiring_first_and_stays_the_same_size() -> None:
    table = SeenTable(1024, 3600)
    for batch in range(40):
        fps = [fingerprint(f"id-{batch}-{i}", "LCP") for i in range(512)]
        table.first_sightings(fps, now=1000 + batch)
    # 20x the capacity went through; the newest half-table's worth is still remembered (older entries
    # were the victims), and the oldest batch has been forgotten.
    newest = [fingerprint(f"id-39-{i}", "LCP") for i in range(512)]
    assert table.first_sightings(newest, now=1100).count(False) >= 500
    oldest = [fingerprint(f"id-0-{i}", "LCP") for i in range(512)]
    assert table.first_sightings(oldest, now=1100).count(True) >= 500


def _worker(path: str, start: int, results: "multiprocessing.Queue[int]") -> None:
    table = SeenTable(1 << 16, 3600, Path(path))
    fps = [fingerprint(f"id-{i}", "CLS") for i in range(2000)]
    new = 0
    for i in range(start, start + 2000):
        new += table.first_sightings([fps[i % 2000]])[0]
    results.put(new)


def test_workers_sharing_the_file_count_each_pair_exactly_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")  # fork after other tests started threads can deadlock
    results: multiprocessing.Queue[int] = ctx.Queue()
    path = str(tmp_path / "dedup.bin")
    procs = [ctx.Process(target=_worker, args=(path, offset, results)) for offset in (0, 700, 1400)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    assert sum(results.get(timeout=5) for _ in procs) == 2000
