"""The monitoring guide's trend words, from the second half of a range against its first half.

Halves, not "this range against the one before": the range before a 30-day range is past the snapshots'
retention, while both halves always lie inside it. A change within STABLE_WITHIN of the first half is
`stable`. For response time and error rate, lower is `improving` and higher `degrading`; for throughput,
more requests is `increasing` and fewer is `degrading` (the guide's four words: improving, stable,
increasing, degrading). No trend (None) when a half has no data.
"""

from __future__ import annotations

from typing import Literal

Trend = Literal["improving", "stable", "increasing", "degrading"]
STABLE_WITHIN = 0.05
BASIS = "second half of the range against its first half; within 5 % is stable"


def change(first: float | None, second: float | None) -> float | None:
    """The relative change from `first` to `second` (0.1 = 10 % more); None when it cannot be said."""
    if first is None or second is None:
        return None
    if first == 0:
        return 0.0 if second == 0 else None
    return (second - first) / first


def lower_is_better(first: float | None, second: float | None) -> Trend | None:
    """Response time, error rate, a vital's p75."""
    if first == 0 and second is not None and second > 0:
        return "degrading"  # from none to some: no ratio, but worse
    moved = change(first, second)
    if moved is None:
        return None
    if abs(moved) < STABLE_WITHIN:
        return "stable"
    return "improving" if moved < 0 else "degrading"


def volume(first: float | None, second: float | None) -> Trend | None:
    """Throughput: more is `increasing`, fewer is `degrading`."""
    if first == 0 and second is not None and second > 0:
        return "increasing"
    moved = change(first, second)
    if moved is None:
        return None
    if abs(moved) < STABLE_WITHIN:
        return "stable"
    return "increasing" if moved > 0 else "degrading"
