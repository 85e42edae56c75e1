"""Exposition: StoreCollector through client_python, the fast path byte-identical to it, both valid for promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as client_text
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_untyped
from prometheus_client.registry import Collector

from perfbudget.store import (
    FamilySpec,
    Reader,
    StoreCollector,
    Table,
    generate_latest,
    generate_latest_openmetrics,
)

from .specs import vitals_specs

PROMTOOL = shutil.which("promtool")
client_openmetrics: Callable[[Collector], bytes] = openmetrics_untyped
ODD_LABELS = ('/a"quoted"/', "back\\slash", "new\nline", "ünïcode ✓", "", "nul\0and\1markers")


def filled(make_table: Callable[..., Table], specs: list[FamilySpec] | None = None) -> Reader:
    """A table with awkward label values, counts past 1e6 (Go's exponent switch) and sums of every shape."""
    table = make_table(specs=specs)
    hist = table.histogram("perfbudget_lcp_seconds")
    for i, route in enumerate(ODD_LABELS):
        observe = hist.observer((route, "phone"))
        assert observe is not None
        for value in (0.05, 0.3, 2.0, 7.5, 1e-9 * i, 123456789.0 * i):
            observe(value)
    many = hist.observer(("/busy", "desktop"))
    assert many is not None
    for _ in range(1_000_003):
        many(0.2)
    cls = table.histogram("perfbudget_cls").observer(("/", "tablet"))
    assert cls is not None
    cls(0.01)
    table.counter("perfbudget_reports_rejected_total").incrementer(("invalid_json",))(3.0)  # type: ignore[misc]
    table.counter("perfbudget_reports_rejected_total").incrementer(("rate_limited",))(1e21)  # type: ignore[misc]
    return Reader(table)


def client_registry(reader: Reader, other: CollectorRegistry | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if other is not None:
        registry.register(other)
    registry.register(StoreCollector(reader))
    return registry


@pytest.fixture(scope="module")
def busy_reader() -> Reader:
    tables: list[Table] = []

    def make(**kwargs: object) -> Table:
        table = Table(vitals_specs())
        tables.append(table)
        return table

    return filled(make)


def test_the_fast_text_is_byte_identical_to_client_pythons(busy_reader: Reader) -> None:
    assert generate_latest(busy_reader) == client_text(client_registry(busy_reader))


def test_the_fast_openmetrics_is_byte_identical_to_client_pythons(busy_reader: Reader) -> None:
    assert generate_latest_openmetrics(busy_reader) == client_openmetrics(client_registry(busy_reader))


def test_the_rest_of_the_registry_comes_first_as_in_one_registry(busy_reader: Reader) -> None:
    app = CollectorRegistry()
    Counter("perfbudget_beacon_requests_total", "Beacons.", ["code"], registry=app).labels("204").inc()
    Histogram("perfbudget_beacon_request_size_bytes", "Sizes.", buckets=(64, 256), registry=app).observe(100)
    both = client_registry(busy_reader, app)
    assert generate_latest(busy_reader, app) == client_text(both)
    assert generate_latest_openmetrics(busy_reader, app) == client_openmetrics(both)


def test_labels_sort_around_le_as_client_python_sorts_them(make_table: Callable[..., Table]) -> None:
    specs = [FamilySpec.histogram("perfbudget_inp_seconds", 'INP "help" \\ with\nnewline.',
                                  ("site", "device", "navigation_type", "a"), (0.2, 0.5)),
             FamilySpec.histogram("perfbudget_ttfb_seconds", "No labels.", (), (0.8,)),
             FamilySpec.histogram("perfbudget_delta", "Negative edges: no _count, no _sum.", ("x",), (-1.0, 1.0)),
             FamilySpec.counter("perfbudget_plain_total", "No labels.", ())]
    table = make_table(specs=specs)
    for labels in (("shop", "phone", "soft", "z"), ("blog", "desktop", "navigate", "")):
        observe = table.histogram("perfbudget_inp_seconds").observer(labels)
        assert observe is not None
        observe(0.3)
    table.histogram("perfbudget_ttfb_seconds").observer(())(0.1)  # type: ignore[misc]
    table.histogram("perfbudget_delta").observer(("d",))(0.0)  # type: ignore[misc]
    table.counter("perfbudget_plain_total").incrementer(())()  # type: ignore[misc]
    reader = Reader(table)
    assert generate_latest(reader) == client_text(client_registry(reader))
    assert generate_latest_openmetrics(reader) == client_openmetrics(client_registry(reader))


def test_an_empty_table_renders_the_families_help_and_type_only(reader: Reader) -> None:
    assert generate_latest(reader) == client_text(client_registry(reader))
    assert generate_latest(reader).decode().splitlines()[:2] == [
        "# HELP perfbudget_lcp_seconds Largest Contentful Paint.", "# TYPE perfbudget_lcp_seconds histogram"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_promtool_accepts_the_text_exposition(busy_reader: Reader) -> None:
    checked = subprocess.run([str(PROMTOOL), "check", "metrics"], input=generate_latest(busy_reader),
                             capture_output=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == b""


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_promtool_parses_the_openmetrics_exposition(busy_reader: Reader, tmp_path: Path) -> None:
    # `promtool check metrics` reads the text format only; its OpenMetrics parser is behind the backfill
    # command, which wants a timestamp on every sample.
    stamped = re.sub(rb"^([^#].*)$", rb"\1 1700000000", generate_latest_openmetrics(busy_reader), flags=re.M)
    (tmp_path / "om.txt").write_bytes(stamped)
    parsed = subprocess.run([str(PROMTOOL), "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "om.txt"),
                             str(tmp_path / "blocks")], capture_output=True, timeout=60)
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    (tmp_path / "bad.txt").write_bytes(stamped.replace(b"# EOF\n", b""))  # the check is a real one
    refused = subprocess.run([str(PROMTOOL), "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "bad.txt"),
                              str(tmp_path / "blocks2")], capture_output=True, timeout=60)
    assert refused.returncode != 0
