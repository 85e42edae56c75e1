"""The statistics of `perfbudget compare`: per vital, both versions' p75 and good share, and whether the
difference is more than chance, from the histograms' bucket counts alone.

A histogram knows, exactly, how many page views fell at or under each bucket edge, and nothing of where
they fell inside a bucket. The tests therefore ask only what the counts answer exactly: "is the share of
page views at or under this edge the same in both versions?", a two-proportion z-test (pooled, two-sided;
z squared is Pearson's chi-square of the 2x2 table, without continuity correction):

- good share: at Google's good threshold, which is always a bucket edge (vitals.bucket_edges), so the share
  is exact, not interpolated;
- p75: Mood's quantile test (the median test of Brown and Mood, at the 75th percentile): at the edge where
  the pooled histogram's share is nearest 75 %. Under the null hypothesis (one distribution for both
  versions) each version has the same share at any edge; a p75 that moved moves the share at the edges
  around it. The p75 value itself is interpolated inside its bucket as the summary and PromQL's
  `histogram_quantile` do (summary.quantile); the test does not rely on that guess.

A t-test or a bootstrap of the p75 would need the values inside the buckets (the interpolation is a guess,
and resampling a guess says nothing about the page views); a chi-square over every bucket says "the
distributions differ" also when only the fast tail moved. Counts from Prometheus are extrapolated
increases, not whole numbers: the same formulas hold for them as estimates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..summary import MIN_SAMPLES, quantile
from ..vitals import Vital

Verdict = Literal["worse", "better", "no significant change", "too few samples"]
#: The quantile the gate compares.
Q = 0.75
#: Below this many page views per version a vital is not compared (the budgets' own default min_samples);
#: it also keeps the normal approximation of the z-test sound (n*p and n*(1-p) well above 5 at p = 0.75).
DEFAULT_MIN_SAMPLES = MIN_SAMPLES


@dataclass(frozen=True, slots=True)
class Histogram:
    """One version's histogram of one vital: finite edges in base units, cumulative counts (+Inf last)."""

    edges: tuple[float, ...]
    cumulative: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.cumulative) != len(self.edges) + 1:
            raise ValueError(f"{len(self.edges)} edges need {len(self.edges) + 1} cumulative counts "
                             f"(+Inf last), not {len(self.cumulative)}")

    @property
    def samples(self) -> float:
        return self.cumulative[-1]

    def at_most(self, edge: float) -> float:
        """The count at or under `edge` (an edge of this histogram)."""
        return self.cumulative[self.edges.index(edge)]


@dataclass(frozen=True, slots=True)
class ZTest:
    """A two-proportion z-test: the shares at or under `edge`, z (positive when the second is lower) and the
    two-sided p-value."""

    edge: float | None  # base units; None when no edge splits the pooled counts (nothing to test)
    share_from: float | None
    share_to: float | None
    z: float
    p_value: float


@dataclass(frozen=True, slots=True)
class Thresholds:
    p75_percent: float = 5.0  # a p75 higher by more than this (relative, %) is worse
    good_share_points: float = 2.0  # a good share lower by more than this (percentage points) is worse
    alpha: float = 0.05
    min_samples: float = DEFAULT_MIN_SAMPLES


@dataclass(frozen=True, slots=True)
class Comparison:
    vital: Vital
    samples_from: float
    samples_to: float
    p75_from: float | None  # base units
    p75_to: float | None
    good_from: float | None  # share, 0..1
    good_to: float | None
    p75_change_percent: float | None
    good_change_points: float | None
    p75_test: ZTest | None
    good_test: ZTest | None
    verdict: Verdict


def normal_sf(z: float) -> float:
    """P(Z > z) for the standard normal distribution."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def two_proportion_z(x1: float, n1: float, x2: float, n2: float) -> tuple[float, float]:
    """(z, two-sided p) for H0 "x1/n1 and x2/n2 estimate one proportion", with the pooled standard error.
    z > 0 when the first share is the higher. No variance (both shares 0 or both 1) is no evidence: (0, 1)."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError(f"both samples need page views (got {n1} and {n2})")
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return z, min(1.0, 2 * normal_sf(abs(z)))


def share_test(a: Histogram, b: Histogram, edge: float) -> ZTest:
    """The z-test of the shares at or under `edge` in `a` and `b`."""
    x1, x2 = a.at_most(edge), b.at_most(edge)
    z, p = two_proportion_z(x1, a.samples, x2, b.samples)
    return ZTest(edge, x1 / a.samples, x2 / b.samples, z, p)


def quantile_edge(a: Histogram, b: Histogram, q: float = Q) -> float | None:
    """The edge where the pooled histogram's cumulative share is nearest `q`, among the edges that split the
    pooled page views (share strictly between 0 and 1); the lower edge on a tie. None when none splits them."""
    total = a.samples + b.samples
    best: tuple[float, float] | None = None
    for index, edge in enumerate(a.edges):
        share = (a.cumulative[index] + b.cumulative[index]) / total
        if 0 < share < 1 and (best is None or abs(share - q) < best[0]):
            best = abs(share - q), edge
    return None if best is None else best[1]


def quantile_test(a: Histogram, b: Histogram, q: float = Q) -> ZTest:
    """Mood's quantile test at the pooled q-quantile's nearest edge (see the module docstring)."""
    edge = quantile_edge(a, b, q)
    if edge is None:
        return ZTest(None, None, None, 0.0, 1.0)
    return share_test(a, b, edge)


def _same_edges(a: Histogram, b: Histogram, vital: Vital) -> None:
    if a.edges != b.edges:
        raise ValueError(f"{vital.name}: the two versions' histograms have different bucket edges "
                         f"({len(a.edges)} and {len(b.edges)} edges): were they read from one source?")


def compare(vital: Vital, a: Histogram, b: Histogram, thresholds: Thresholds) -> Comparison:
    """Version `a` (from) against version `b` (to) for `vital`."""
    _same_edges(a, b, vital)
    p75_a = quantile(Q, a.edges, list(a.cumulative))
    p75_b = quantile(Q, b.edges, list(b.cumulative))
    has_good = vital.good in a.edges
    good_a = a.at_most(vital.good) / a.samples if has_good and a.samples > 0 else None
    good_b = b.at_most(vital.good) / b.samples if has_good and b.samples > 0 else None
    p75_change = _percent(p75_a, p75_b)
    good_change = None if good_a is None or good_b is None else 100 * (good_b - good_a)
    if min(a.samples, b.samples) < thresholds.min_samples:
        return Comparison(vital, a.samples, b.samples, p75_a, p75_b, good_a, good_b, p75_change, good_change,
                          None, None, "too few samples")
    p75_test = quantile_test(a, b)
    good_test = share_test(a, b, vital.good) if has_good else None
    verdict = decide(p75_change, p75_test.p_value, good_change,
                     None if good_test is None else good_test.p_value, thresholds)
    return Comparison(vital, a.samples, b.samples, p75_a, p75_b, good_a, good_b, p75_change, good_change,
                      p75_test, good_test, verdict)


def _percent(before: float | None, after: float | None) -> float | None:
    if before is None or after is None:
        return None
    if before == 0:
        return 0.0 if after == 0 else math.inf
    return 100 * (after - before) / before


def decide(p75_change: float | None, p75_p: float, good_change: float | None, good_p: float | None,
           thresholds: Thresholds) -> Verdict:
    """Worse when the p75 is higher by more than the threshold or the good share lower by more than its
    threshold, with that test significant at alpha; better the other way round (and not worse)."""
    p75_up = p75_down = good_down = good_up = False
    if p75_change is not None and p75_p < thresholds.alpha:
        p75_up, p75_down = p75_change > thresholds.p75_percent, p75_change < -thresholds.p75_percent
    if good_change is not None and good_p is not None and good_p < thresholds.alpha:
        good_down = good_change < -thresholds.good_share_points
        good_up = good_change > thresholds.good_share_points
    if p75_up or good_down:
        return "worse"
    if p75_down or good_up:
        return "better"
    return "no significant change"


def exit_code(comparisons: Sequence[Comparison]) -> int:
    """1 when a vital is worse, else 2 when one has too few samples, else 0."""
    verdicts = {c.verdict for c in comparisons}
    if "worse" in verdicts:
        return 1
    return 2 if "too few samples" in verdicts else 0
