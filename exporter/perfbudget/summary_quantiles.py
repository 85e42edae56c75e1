"""Percentiles of a histogram's bucket counts, as the summary and every reader of it interpolates them.

`quantile` is PromQL's `histogram_quantile` (linear interpolation inside the bucket holding the rank), so a
figure here and the same query on Prometheus agree on the same data; `quantile_bucket` is the bucket itself
(all the histogram knows); `VitalState` one vital's counts over a window with its p75 and shares;
`parse_window` the summary's `?window=` in Prometheus duration notation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .vitals import Vital

Counts = list[float]  # cumulative bucket counts, the last one being +Inf (= the count)

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_WINDOW = 7 * 86400


def parse_window(text: str) -> int:
    """'1h' -> 3600. Prometheus duration notation with one unit, at most a week."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"window {text!r} is not a duration like 30m, 1h, 6h, 1d")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not 60 <= seconds <= MAX_WINDOW:
        raise ValueError(f"window {text!r} must be between 1m and 7d")
    return seconds


def _rank_index(q: float, cumulative: Counts) -> tuple[int, float] | None:
    """The index of the bucket holding rank q*count (len(edges) for +Inf), and the rank; None without data."""
    total = cumulative[-1] if cumulative else 0
    if total <= 0:
        return None
    rank = q * total
    return next(i for i, count in enumerate(cumulative) if count >= rank), rank


def quantile(q: float, edges: tuple[float, ...], cumulative: Counts) -> float | None:
    """PromQL's `histogram_quantile`: linear interpolation inside the bucket holding rank q*count."""
    found = _rank_index(q, cumulative)
    if found is None:
        return None
    index, rank = found
    if index >= len(edges):  # the +Inf bucket: Prometheus answers the highest finite bound
        return edges[-1]
    upper = edges[index]
    lower = edges[index - 1] if index > 0 else 0.0
    below = cumulative[index - 1] if index > 0 else 0.0
    in_bucket = cumulative[index] - below
    if in_bucket <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / in_bucket


def quantile_bucket(q: float, edges: tuple[float, ...], cumulative: Counts) -> tuple[float, float | None] | None:
    """The bucket `quantile` interpolates in: (lower, upper) edges, upper None for the +Inf bucket. All that
    the histogram knows of the quantile; the interpolated value inside it is a guess."""
    found = _rank_index(q, cumulative)
    if found is None:
        return None
    index = found[0]
    lower = edges[index - 1] if index > 0 else 0.0
    return lower, edges[index] if index < len(edges) else None


#: Below this many samples in the window a p75 is low-confidence when no budget says otherwise (the
#: budgets' own default `min_samples`).
MIN_SAMPLES = 50


@dataclass(frozen=True)
class VitalState:
    vital: Vital
    edges: tuple[float, ...]
    counts: Counts

    @property
    def samples(self) -> int:
        return int(self.counts[-1]) if self.counts else 0

    def p(self, q: float) -> float | None:
        return quantile(q, self.edges, self.counts)

    def share_at_most(self, threshold: float) -> float | None:
        if not self.samples or threshold not in self.edges:
            return None
        return self.counts[self.edges.index(threshold)] / self.counts[-1]
