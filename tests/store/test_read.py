"""Reads: every slab of the run summed per label tuple, filtered; foreign slabs refused with a reason."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from perfbudget.store import Reader, Table

from .specs import vitals_specs

LCP = "perfbudget_lcp_seconds"


def observe(table: Table, labels: tuple[str, str], *values: float) -> None:
    observer = table.histogram(LCP).observer(labels)
    assert observer is not None
    for value in values:
        observer(value)


def test_every_slab_of_the_directory_is_summed_per_label_tuple(make_table: Callable[..., Table],
                                                               tmp_path: Path) -> None:
    first, second = make_table(directory=tmp_path), make_table(directory=tmp_path)
    observe(first, ("/", "phone"), 0.2, 3.0)
    observe(second, ("/", "phone"), 0.2)
    observe(second, ("/cart", "desktop"), 5.0)
    assert len(list(tmp_path.glob("store-*.slab"))) == 2
    series = Reader(make_table(directory=tmp_path)).read(LCP)  # a reader that writes nothing
    # the reserved overflow series is there from the start, at zero, like an initialised client_python child
    assert list(series) == [("/", "phone"), ("/cart", "desktop"), ("other", "phone")]
    assert series[("other", "phone")].count == 0
    assert series[("/", "phone")].buckets == [0.0, 2.0, 2.0, 2.0, 3.0, 3.0]
    assert series[("/", "phone")].sum == pytest.approx(3.4)
    assert series[("/cart", "desktop")].count == 1.0


def test_match_keeps_the_series_with_those_label_values(table: Table, reader: Reader) -> None:
    observe(table, ("/", "phone"), 1.0)
    observe(table, ("/", "desktop"), 1.0)
    observe(table, ("/cart", "phone"), 1.0)
    assert list(reader.read(LCP, match={"device": "phone"})) == [("/", "phone"), ("/cart", "phone"), ("other", "phone")]
    assert list(reader.read(LCP, match={"route": "/", "device": "desktop"})) == [("/", "desktop")]
    with pytest.raises(ValueError, match="perfbudget_lcp_seconds has no label site"):
        reader.read(LCP, match={"site": "shop"})


def test_the_slab_of_a_writer_that_is_gone_keeps_counting(make_table: Callable[..., Table], tmp_path: Path) -> None:
    gone = make_table(directory=tmp_path)
    observe(gone, ("/", "phone"), 1.0, 1.0)
    gone.close()  # its process would have exited; the file stays
    respawned = make_table(directory=tmp_path)
    observe(respawned, ("/", "phone"), 1.0)
    assert Reader(respawned).read(LCP)[("/", "phone")].count == 3.0


def test_a_slab_with_other_bucket_edges_is_ignored_with_the_reason_logged(
    make_table: Callable[..., Table], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = make_table(directory=tmp_path, specs=vitals_specs(edges=(0.1, 0.5, 1.0)))
    observe(old, ("/", "phone"), 0.2)
    old.counter("perfbudget_reports_rejected_total").incrementer(("invalid_json",))(1.0)  # type: ignore[misc]
    current = make_table(directory=tmp_path)
    observe(current, ("/", "phone"), 0.2)
    reader = Reader(current)
    with caplog.at_level(logging.WARNING, logger="perfbudget.store.read"):
        assert reader.read(LCP)[("/", "phone")].count == 1.0
        reader.read(LCP)
    assert [r.getMessage() for r in caplog.records] == [
        f"store: slab {old.slab.label}: family perfbudget_lcp_seconds has another layout (bucket edges, labels or "
        "kind differ from this reader's): its series are ignored"
    ]  # once, not per scrape
    # the families whose layout did not change still count
    assert reader.read_counter("perfbudget_reports_rejected_total") == {("invalid_json",): 1.0}


def test_a_slab_of_another_run_or_a_foreign_file_is_ignored_with_the_reason_logged(
    make_table: Callable[..., Table], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    previous = make_table(directory=tmp_path, epoch=1)
    observe(previous, ("/", "phone"), 0.2)
    (tmp_path / "store-1-2.slab").write_bytes(b"not a slab" * 100)
    (tmp_path / "store-1-3.slab").write_bytes(b"short")
    current = make_table(directory=tmp_path, epoch=2)
    observe(current, ("/", "phone"), 0.2)
    with caplog.at_level(logging.WARNING, logger="perfbudget.store.read"):
        assert Reader(current).read(LCP)[("/", "phone")].count == 1.0
    messages = sorted(r.getMessage() for r in caplog.records)
    assert messages == sorted([
        f"store: slab {previous.slab.path}: ignored: run epoch 1, this run is epoch 2",
        f"store: slab {tmp_path / 'store-1-2.slab'}: ignored: not a perfbudget store slab (bad magic)",
        f"store: slab {tmp_path / 'store-1-3.slab'}: ignored: 5 bytes, shorter than a header",
    ])


def test_a_vanished_slab_is_dropped_from_later_reads(make_table: Callable[..., Table], tmp_path: Path) -> None:
    writer = make_table(directory=tmp_path)
    observe(writer, ("/", "phone"), 0.2)
    reader = Reader(make_table(directory=tmp_path))
    assert reader.read(LCP)[("/", "phone")].count == 1
    assert writer.slab.path is not None
    writer.slab.path.unlink()  # the directory wiped at a server start
    assert reader.read(LCP) == {}
