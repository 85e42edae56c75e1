"""Where `perfbudget compare` reads two versions' bucket counts.

- A perfbudget exporter: its `/metrics` (the vitals histograms, cumulative since the exporter started),
  parsed with client_python's text parser and summed per version over every other label (routes, devices,
  sites, navigation types) but those the selector fixes.
- Prometheus (detected by its /api/v1/status/buildinfo): per vital
  `sum by (le, version) (increase(<histogram>_bucket{version=~"V1|V2", ...}[window]))` at the query time.
  Prometheus extrapolates increases to the window's edges, so those counts are estimates, not whole numbers.

The versions are the `version` label's values; a version no series carries is unknown to the source
(beacons cannot create versions: the exporter counts an unknown release as `other`).
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from ..analytics.prometheus import PrometheusClient, PrometheusError
from ..vitals import Vital
from .stats import Histogram

VERSION = "version"
#: Labels a selector may fix (the others are summed away).
SELECTABLE = ("route", "device", "site")
Progress = Callable[[str], None]


class SourceError(RuntimeError):
    """The source cannot answer the comparison asked (unreachable, no version label, unknown version)."""


@dataclass(frozen=True, slots=True)
class Counts:
    """Per vital name, per version, its histogram; and the versions the source carries."""

    source: str
    versions: frozenset[str]
    histograms: dict[str, dict[str, Histogram]]


def _histogram(buckets: Mapping[float, float], edges: Sequence[float]) -> Histogram:
    """{upper bound (inf for +Inf): cumulative count} on `edges` -> Histogram, made monotonic (extrapolated
    increases of neighbouring buckets can cross by a hair); an edge the series lacks counts as the one below."""
    running, cumulative = 0.0, []
    for edge in (*edges, math.inf):
        count = buckets.get(edge, running)
        running = max(running, count if math.isfinite(count) else 0.0)
        cumulative.append(running)
    return Histogram(tuple(edges), tuple(cumulative))


def _assemble(source: str, vitals: Sequence[Vital], versions: Iterable[str], wanted: Sequence[str],
              sums: Mapping[str, Mapping[str, Mapping[float, float]]]) -> Counts:
    """sums[vital][version][le] -> Counts, every wanted version of every vital on the vital's edges."""
    out: dict[str, dict[str, Histogram]] = {}
    for vital in vitals:
        per_version = sums.get(vital.name, {})
        edges = sorted({le for buckets in per_version.values() for le in buckets if math.isfinite(le)})
        out[vital.name] = {version: _histogram(per_version.get(version, {}), edges) for version in wanted}
    return Counts(source, frozenset(versions), out)


def check_versions(counts: Counts, wanted: Sequence[str], where: str) -> None:
    """SourceError naming the source's versions when it has no version label or lacks a wanted version."""
    if not counts.versions:
        raise SourceError(
            f"{where}: the vitals histograms carry no `{VERSION}` label, or no page view counted under one: "
            "configure the exporter's releases and send data-version from beacon.js (releases are counted "
            "per version only then)")
    known = ", ".join(sorted(counts.versions))
    for version in wanted:
        if version not in counts.versions:
            raise SourceError(f"{where}: no page view counted under {VERSION} {version!r} (the versions there: "
                              f"{known}); a release the exporter does not know is counted as `other`")


# --- a perfbudget exporter's /metrics ---------------------------------------------------------------------

def parse_exposition(text: str, vitals: Sequence[Vital], wanted: Sequence[str], selector: Mapping[str, str],
                     source: str) -> Counts:
    """The Prometheus text exposition -> Counts: `_bucket` samples summed by (version, le) over the series
    that match `selector`; the versions known are those with a page view in any series of these vitals."""
    by_metric = {vital.metric: vital for vital in vitals}
    sums: dict[str, dict[str, dict[float, float]]] = {}
    versions: set[str] = set()
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError) as exc:
        raise SourceError(f"{source}: not a Prometheus text exposition: {exc}") from None
    for family in families:
        vital = by_metric.get(family.name)
        if vital is None:
            continue
        for sample in family.samples:
            labels = sample.labels
            if sample.name != f"{family.name}_bucket" or VERSION not in labels or "le" not in labels:
                continue
            if labels["le"] == "+Inf" and sample.value > 0:
                versions.add(labels[VERSION])
            if any(labels.get(key) != value for key, value in selector.items()):
                continue
            buckets = sums.setdefault(vital.name, {}).setdefault(labels[VERSION], {})
            le = float(labels["le"])
            buckets[le] = buckets.get(le, 0.0) + sample.value
    return _assemble(source, vitals, versions, wanted, sums)


def read_exporter(url: str, vitals: Sequence[Vital], wanted: Sequence[str], selector: Mapping[str, str],
                  progress: Progress, timeout: float = 60.0) -> Counts:
    address = f"{url.rstrip('/')}/metrics"
    progress(f"perfbudget compare: GET {address}")
    request = urllib.request.Request(address, headers={"Accept": "text/plain; version=0.0.4"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        raise SourceError(f"{address}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SourceError(f"{address}: {exc} (is a perfbudget exporter or Prometheus listening there?)") from None
    counts = parse_exposition(text, vitals, wanted, selector, f"perfbudget {url.rstrip('/')}")
    check_versions(counts, wanted, address)
    return counts


# --- Prometheus -------------------------------------------------------------------------------------------

def version_regex(versions: Iterable[str]) -> str:
    """An RE2 alternation matching exactly these versions (dots and the like escaped)."""
    return "|".join(re.escape(version) for version in versions)


def selector_text(wanted: Sequence[str], selector: Mapping[str, str]) -> str:
    """The label matchers of the increase query, as PromQL string literals (json.dumps escapes the way
    PromQL's double-quoted strings read)."""
    matchers = [f"{VERSION}=~{json.dumps(version_regex(wanted))}"]
    matchers += [f"{key}={json.dumps(value)}" for key, value in sorted(selector.items())]
    return ",".join(matchers)


def read_prometheus(url: str, vitals: Sequence[Vital], wanted: Sequence[str], selector: Mapping[str, str],
                    window: int, at: float, progress: Progress) -> Counts:
    client = PrometheusClient(url, progress)
    matchers = selector_text(wanted, selector)
    sums: dict[str, dict[str, dict[float, float]]] = {}
    seen: set[str] = set()
    try:
        for vital in vitals:
            rows = client.query(f"sum by (le, {VERSION}) (increase({vital.metric}_bucket{{{matchers}}}[{window}s]))",
                                at)
            for row in rows:
                labels, value = row["metric"], float(row["value"][1])
                if "le" not in labels or VERSION not in labels:
                    continue
                sums.setdefault(vital.name, {}).setdefault(labels[VERSION], {})[float(labels["le"])] = value
                if labels["le"] == "+Inf" and value > 0:
                    seen.add(labels[VERSION])
        if not set(wanted) <= seen:
            # which versions there are, for the error: every version with a series of these vitals in the window
            names = "|".join(f"{vital.metric}_bucket" for vital in vitals)
            rows = client.query(f'group by ({VERSION}) (last_over_time({{__name__=~"{names}"}}[{window}s]))', at)
            seen |= {row["metric"][VERSION] for row in rows if row["metric"].get(VERSION)} - set(wanted)
    except PrometheusError as exc:
        raise SourceError(str(exc)) from None
    counts = _assemble(f"prometheus {client.url}", vitals, seen, wanted, sums)
    check_versions(counts, wanted, f"{client.url} (increase over the last {window}s)")
    return counts
