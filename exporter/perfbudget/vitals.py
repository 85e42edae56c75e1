"""The five Web Vitals: units, Google's thresholds, rating, bucket edges and Lighthouse-style scoring.

Everything here works in *base units*: seconds for the timing vitals, the unitless score for CLS.
Beacons carry milliseconds; `Vital.to_base` converts once, at the boundary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Rating = Literal["good", "needs-improvement", "poor"]
RATINGS: tuple[Rating, ...] = ("good", "needs-improvement", "poor")


@dataclass(frozen=True, slots=True)
class Vital:
    """One Web Vital as perfbudget measures it."""

    name: str  # the web-vitals library's name: "LCP"
    key: str  # lower-case, for metric names and config keys: "lcp"
    metric: str  # the Prometheus histogram: "perfbudget_lcp_seconds"
    unit: str  # UCUM unit as OpenTelemetry writes it: "s" or "1"
    display_unit: str  # what people read in the API answers: "ms" or "" (unitless)
    ms: bool  # True when beacons carry milliseconds
    good: float  # base units; good when value <= good
    poor: float  # base units; poor when value > poor
    max_beacon_value: float  # sanity bound, in the beacon's own unit
    grid: tuple[float, ...]  # default bucket edges in base units (thresholds are added on top)
    description: str

    def to_base(self, beacon_value: float) -> float:
        """Milliseconds to seconds (division, so 2500 ms is exactly 2.5 s)."""
        return beacon_value / 1000.0 if self.ms else beacon_value

    def to_display(self, base_value: float) -> float:
        return base_value * 1000.0 if self.ms else base_value

    def rate(self, base_value: float) -> Rating:
        """Google's rating: a value equal to a threshold belongs to the better side."""
        if base_value <= self.good:
            return "good"
        if base_value <= self.poor:
            return "needs-improvement"
        return "poor"


def _ladder(good: float, poor: float, steps: int, low: float, high: float) -> tuple[float, ...]:
    """Log-spaced edges (a constant ratio) through both thresholds: `steps` buckets from good to poor, the
    same ratio on either side until the ladder covers [low, high]; rounded to 3 significant digits (both
    thresholds stay exact: rounding lands back on them)."""
    ratio = (poor / good) ** (1 / steps)
    first = math.floor(math.log(low / good) / math.log(ratio) + 1e-9)
    last = math.ceil(math.log(high / good) / math.log(ratio) - 1e-9)
    return tuple(float(f"{good * ratio**i:.3g}") for i in range(first, last + 1))


# The default ladders, chosen on `benchmarks/precision.py`: the p75 the summary interpolates is off by at
# most 3 % (worst case over medians and spreads typical of each vital) from 1,000 samples on, with at most
# 30 edges per vital under the bundled budgets (room for two more targets under the 32 that scrapes are
# measured with). The error follows the width of a bucket relative to its value, hence a constant ratio
# (1.14-1.18) over the range where a p75 falls; beyond it a p75 reads as the last edge (PromQL's answer too).
_LCP_GRID = _ladder(2.5, 4.0, 3, 0.5, 20.0)  # ratio 1.170: 0.446 .. 22.4 s
_FCP_GRID = _ladder(1.8, 3.0, 3, 0.3, 15.0)  # ratio 1.186: 0.277 .. 16.5 s
_TTFB_GRID = _ladder(0.8, 1.8, 5, 0.05, 4.0)  # ratio 1.176: 0.0432 .. 4.05 s
_INP_GRID = _ladder(0.2, 0.5, 6, 0.03, 2.0)  # ratio 1.165: 0.0275 .. 2.3 s
_CLS_GRID = _ladder(0.1, 0.25, 6, 0.0075, 0.6)  # ratio 1.165: 0.00746 .. 0.625

VITALS: dict[str, Vital] = {
    v.name: v
    for v in (
        Vital("LCP", "lcp", "perfbudget_lcp_seconds", "s", "ms", True, 2.5, 4.0, 600_000, _LCP_GRID,
              "Largest Contentful Paint: when the largest image or text block in the viewport rendered."),
        Vital("INP", "inp", "perfbudget_inp_seconds", "s", "ms", True, 0.2, 0.5, 60_000, _INP_GRID,
              "Interaction to Next Paint: the slowest interaction's latency to the next frame."),
        Vital("CLS", "cls", "perfbudget_cls", "1", "", False, 0.1, 0.25, 100.0, _CLS_GRID,
              "Cumulative Layout Shift: the largest burst of unexpected layout shifts."),
        Vital("FCP", "fcp", "perfbudget_fcp_seconds", "s", "ms", True, 1.8, 3.0, 600_000, _FCP_GRID,
              "First Contentful Paint: when the first text or image rendered."),
        Vital("TTFB", "ttfb", "perfbudget_ttfb_seconds", "s", "ms", True, 0.8, 1.8, 600_000, _TTFB_GRID,
              "Time to First Byte: from navigation start to the first byte of the document."),
    )
}

def bucket_edges(vital: Vital, extra: Iterable[float] = ()) -> tuple[float, ...]:
    """The histogram's upper bounds: the grid, both thresholds and every budget target, sorted, unique."""
    edges = {*vital.grid, vital.good, vital.poor, *extra}
    for edge in edges:
        if not math.isfinite(edge) or edge <= 0:
            raise ValueError(f"{vital.name}: bucket edge {edge!r} must be a finite positive number")
    return tuple(sorted(edges))


# --- Lighthouse-style scoring --------------------------------------------------------------------
# Lighthouse scores a metric on a log-normal curve fixed by two control points: the value that scores
# 0.9 (p10) and the value that scores 0.5 (the median). We use Lighthouse 10+'s mobile control points.
# Lighthouse has no field INP or TTFB curve; INP stands in for TBT with Google's INP thresholds as
# control points, and TTFB uses its own thresholds, so that every score reads on the same scale.


@dataclass(frozen=True, slots=True)
class ScoreCurve:
    p10: float  # base units: scores 0.9
    median: float  # base units: scores 0.5
    weight: float


SCORE_CURVES: dict[str, ScoreCurve] = {
    "FCP": ScoreCurve(1.8, 3.0, 10),
    "LCP": ScoreCurve(2.5, 4.0, 25),
    "CLS": ScoreCurve(0.1, 0.25, 25),
    "INP": ScoreCurve(0.2, 0.5, 30),
    "TTFB": ScoreCurve(0.8, 1.8, 10),
}

# The z-score of the 10th percentile of the standard normal distribution.
_Z_P10 = -1.2815515655446004


def log_normal_score(curve: ScoreCurve, value: float) -> float:
    """Lighthouse's `getLogNormalScore`: 1 at 0, 0.9 at p10, 0.5 at the median, towards 0 beyond.

    The clamps are Lighthouse's own: a value at or under p10 never scores a perfect 1 (0.99 at most),
    and each side of a control point stays on its side, so rounding cannot move a rating.
    """
    if value <= 0:
        return 1.0
    mu = math.log(curve.median)
    sigma = (math.log(curve.p10) - mu) / _Z_P10
    score = 0.5 * math.erfc((math.log(value) - mu) / (math.sqrt(2) * sigma))
    if value <= curve.p10:
        return max(0.9, min(0.99, score))
    if value <= curve.median:
        return max(0.5, min(0.89999999999, score))
    return max(0.0, min(0.49999999999, score))


def overall_score(p75: Mapping[str, float]) -> float | None:
    """Weighted mean of the per-vital scores over the vitals that have data, renormalised, 0..100."""
    total = weight = 0.0
    for name, value in p75.items():
        curve = SCORE_CURVES.get(name)
        if curve is None:
            continue
        total += curve.weight * log_normal_score(curve, value)
        weight += curve.weight
    if weight == 0:
        return None
    return round(100 * total / weight)
