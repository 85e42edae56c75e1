"""The store as client_python families: a Collector whose samples are every slab's, summed.

Register it on a scrape registry (`registry.register(StoreCollector(reader))`) and render with
client_python's `generate_latest` or its OpenMetrics twin; `exposition.py` renders the same bytes
faster for large tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import accumulate

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from .layout import FamilySpec, Labels
from .read import Reader, Row

#: client_python's number formatting (untyped there), as both renderings use it.
go_float: Callable[[float], str] = floatToGoString


def le_strings(spec: FamilySpec) -> list[str]:
    """The `le` label values of a histogram's buckets, as client_python writes them."""
    return [go_float(edge) for edge in spec.buckets] + ["+Inf"]


def sorted_rows(reader: Reader, spec: FamilySpec) -> list[tuple[Labels, Row]]:
    """A family's series in the order both renderings use: sorted by label values."""
    return sorted(reader.rows(spec.name).items())


class StoreCollector:
    """Yields one HistogramMetricFamily or CounterMetricFamily per store family, in layout order."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    def describe(self) -> Iterator[Metric]:
        for spec in self._reader.layout.families.values():
            yield _empty(spec)

    def collect(self) -> Iterator[Metric]:
        for spec in self._reader.layout.families.values():
            family = _empty(spec)
            rows = sorted_rows(self._reader, spec)
            if isinstance(family, HistogramMetricFamily):
                les = le_strings(spec)
                for labels, row in rows:
                    cumulative = [float(c) for c in accumulate(row[:-1])]
                    family.add_metric(labels, list(zip(les, cumulative, strict=True)), float(row[-1]))
            else:
                for labels, row in rows:
                    family.add_metric(labels, float(row[0]))
            yield family


def _empty(spec: FamilySpec) -> HistogramMetricFamily | CounterMetricFamily:
    if spec.kind == "histogram":
        return HistogramMetricFamily(spec.name, spec.documentation, labels=spec.labelnames)
    return CounterMetricFamily(spec.name, spec.documentation, labels=spec.labelnames)
