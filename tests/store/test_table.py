"""Writes: buckets as Prometheus means them, counters, slots running out, misuse."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from perfbudget.store import Reader, Table

from .specs import vitals_specs


def test_a_value_on_an_edge_counts_in_that_bucket(table: Table, reader: Reader) -> None:
    observe = table.histogram("perfbudget_lcp_seconds").observer(("/", "phone"))
    assert observe is not None
    for value in (0.05, 0.1, 0.3, 2.5, 9.0):
        observe(value)
    series = reader.read("perfbudget_lcp_seconds")[("/", "phone")]
    # edges 0.1, 0.5, 1.0, 2.5, 4.0, +Inf
    assert series.buckets == [2.0, 3.0, 3.0, 4.0, 4.0, 5.0]
    assert series.count == 5.0
    assert series.sum == pytest.approx(11.95)


def test_an_observer_is_one_per_series_and_cached(table: Table) -> None:
    hist = table.histogram("perfbudget_lcp_seconds")
    assert hist.observer(("/", "phone")) is hist.observer(["/", "phone"])
    assert hist.observer(("/", "phone")) is not hist.observer(("/", "desktop"))


def test_counters_add_their_amounts(table: Table, reader: Reader) -> None:
    counter = table.counter("perfbudget_reports_rejected_total")
    inc = counter.incrementer(("invalid_json",))
    assert inc is not None
    inc()
    inc(2.5)
    assert reader.read_counter("perfbudget_reports_rejected_total") == {("invalid_json",): 3.5}
    with pytest.raises(ValueError, match="non-negative"):
        inc(-1)


def test_when_slots_run_out_the_refusal_is_counted_and_the_reserved_overflow_series_still_counts(
    make_table: Callable[..., Table],
) -> None:
    table = make_table(specs=vitals_specs(capacity=4))
    reader = Reader(table)
    hist = table.histogram("perfbudget_lcp_seconds")
    admitted = [hist.observer((f"/r{i}", "phone")) for i in range(6)]
    # one slot is reserved for ("other", "phone"): three routes fit, three are refused
    assert [o is not None for o in admitted] == [True, True, True, False, False, False]
    overflow = hist.observer(("other", "phone"))
    assert overflow is not None
    overflow(1.0)
    assert reader.overflows()["perfbudget_lcp_seconds"] == 3
    assert set(reader.read("perfbudget_lcp_seconds")) == {("other", "phone"), ("/r0", "phone"), ("/r1", "phone"),
                                                           ("/r2", "phone")}
    assert reader.read("perfbudget_lcp_seconds")[("other", "phone")].count == 1.0


def test_a_wrong_family_or_label_count_fails_fast(table: Table) -> None:
    with pytest.raises(ValueError, match="'perfbudget_nope' is not a family of this store"):
        table.histogram("perfbudget_nope")
    with pytest.raises(ValueError, match="perfbudget_reports_rejected_total is a counter, not a histogram"):
        table.histogram("perfbudget_reports_rejected_total")
    with pytest.raises(ValueError, match=r"1 label values for labels \('route', 'device'\)"):
        table.histogram("perfbudget_lcp_seconds").observer(("/",))


def test_a_table_opened_before_a_fork_refuses_new_series_in_the_child(table: Table,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    hist = table.histogram("perfbudget_lcp_seconds")
    monkeypatch.setattr(os, "getpid", lambda: table.slab.pid + 1)
    with pytest.raises(RuntimeError, match="open it in each worker"):
        hist.observer(("/", "phone"))


def test_a_process_that_wrote_nothing_has_no_slab_to_read(make_table: Callable[..., Table]) -> None:
    quiet = make_table()
    assert quiet.local_slab is None
    assert Reader(quiet).read("perfbudget_lcp_seconds") == {}
    assert Reader(quiet).slabs() == []
