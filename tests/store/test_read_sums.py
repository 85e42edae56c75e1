"""Reader.sums: one label's totals over every other label and every slab, in one pass (the summary's live read)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from perfbudget.store import Reader, Table

LCP = "perfbudget_lcp_seconds"


def test_sums_add_every_device_and_every_slab_per_route(make_table: Callable[..., Table], tmp_path: Path) -> None:
    first, second = make_table(directory=tmp_path), make_table(directory=tmp_path)
    for table, labels, value in ((first, ("/", "phone"), 0.2), (second, ("/", "desktop"), 3.0),
                                 (second, ("/", "phone"), 0.2), (first, ("/cart", "tablet"), 5.0)):
        observer = table.histogram(LCP).observer(labels)
        assert observer is not None
        observer(value)
    reader = Reader(make_table(directory=tmp_path))
    sums = reader.sums(LCP, "route")
    # per bucket (not cumulative, +Inf last), then the sum of the observations
    assert sums["/"][:-1] == [0, 2, 0, 0, 1, 0] and sums["/"][-1] == pytest.approx(3.4)
    assert sums["/cart"][:-1] == [0, 0, 0, 0, 0, 1]
    assert sums["other"][:-1] == [0] * 6  # the reserved series, at zero
    rows = reader.rows(LCP)
    assert sums["/"][:-1] == [a + b for a, b in zip(rows[("/", "phone")], rows[("/", "desktop")], strict=True)][:-1]


def test_sums_by_a_label_the_family_has_not_says_so(reader: Reader) -> None:
    with pytest.raises(ValueError, match="perfbudget_lcp_seconds has no label site"):
        reader.sums(LCP, "site")
