"""Family specs fail fast with a precise message; the slab layout has the documented sizes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from perfbudget.store import FamilySpec, Layout
from perfbudget.store.layout import ENTRY, HEADER, decode_key, encode_key

VALID = FamilySpec.histogram("perfbudget_lcp_seconds", "LCP.", ("route", "device"), (0.5, 1.0))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "perfbudget lcp"}, "'perfbudget lcp': not a metric name of at most 64 bytes"),
        ({"labelnames": ("route", "route")}, "perfbudget_lcp_seconds: duplicate label names ('route', 'route')"),
        ({"labelnames": ("route", "le")}, "perfbudget_lcp_seconds: 'le' is reserved for the bucket label"),
        ({"labelnames": ("__route",)}, "perfbudget_lcp_seconds: '__route' is not a valid label name"),
        ({"buckets": (1.0, 0.5)}, "perfbudget_lcp_seconds: buckets not in strictly increasing order"),
        ({"buckets": (0.5, float("inf"))}, "perfbudget_lcp_seconds: bucket edges must be finite (+Inf is implicit)"),
        ({"buckets": ()}, "perfbudget_lcp_seconds: a histogram needs at least one bucket edge"),
        ({"capacity": 0}, "perfbudget_lcp_seconds: capacity 0 must be in 1..16777216"),
        ({"key_bytes": 100}, "perfbudget_lcp_seconds: key_bytes 100 must be a multiple of 8 in 8..4096"),
        ({"reserved": (("other",),)}, "perfbudget_lcp_seconds: 1 label values for labels ('route', 'device')"),
        ({"kind": "counter"}, "perfbudget_lcp_seconds: a counter's name ends in _total"),
    ],
)
def test_an_invalid_spec_is_refused_with_what_is_wrong(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        replace(VALID, **change)  # type: ignore[arg-type]
    assert str(error.value) == message


def test_a_histogram_series_takes_its_key_plus_edges_plus_three_words() -> None:
    spec = FamilySpec.histogram("perfbudget_lcp_seconds", "LCP.", ("route", "device"), range(1, 33))
    assert spec.slot_words * 8 == 280  # seqlock, 33 buckets, sum
    assert spec.key_bytes + spec.slot_words * 8 == 536
    assert HEADER.size == 64
    assert ENTRY.size == 128
    assert FamilySpec.counter("perfbudget_x_total", "X.", ()).slot_words == 1


def test_regions_are_page_aligned_and_do_not_overlap() -> None:
    layout = Layout([VALID, replace(VALID, name="perfbudget_cls", capacity=3)])
    first, second = layout.regions
    assert first.offset == layout.header_bytes and first.offset % 4096 == 0
    assert second.offset == first.offset + first.size and second.offset % 4096 == 0
    assert layout.size == second.offset + second.size


def test_the_family_hash_follows_the_edges_and_labels_not_the_capacity() -> None:
    assert replace(VALID, capacity=10).digest == VALID.digest
    assert replace(VALID, buckets=(0.5, 2.0)).digest != VALID.digest
    assert replace(VALID, labelnames=("route", "site")).digest != VALID.digest


def test_keys_round_trip_and_a_key_too_long_is_refused() -> None:
    key = encode_key(VALID, ("/päge", ""))
    assert decode_key(key + bytes(VALID.key_bytes - len(key)), 2) == ("/päge", "")
    with pytest.raises(ValueError, match="take 261 bytes, the key has 256"):
        encode_key(VALID, ("x" * 200, "y" * 59))
    with pytest.raises(ValueError, match="label value of 256 bytes"):
        encode_key(VALID, ("x" * 256, ""))


def test_duplicate_family_names_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate family names"):
        Layout([VALID, VALID])
