"""The analytics' time ranges: `timeRange=30d` -> seconds, bounded by the snapshots' retention, and the step
of the series drawn over it."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"^(\d{1,6})(m|h|d)$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
#: The form a range takes, as an error names it.
RANGE_FORM = "a whole number and a unit, m, h or d (for example 1h, 24h, 7d, 30d)"
SHORTEST = 300
#: Series steps: the first that gives at most MAX_POINTS points. Never finer than the snapshots' own
#: thinning at that age (10 minutes past a day, an hour past a week) for the ranges that reach that far.
STEPS = (60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)
MAX_POINTS = 36


@dataclass(frozen=True, slots=True)
class TimeRange:
    text: str  # as asked: "30d"
    seconds: int
    step: int  # seconds between two points of the series

    @property
    def points(self) -> int:
        return -(-self.seconds // self.step)


def step_for(seconds: int) -> int:
    """The series step for a range of `seconds`: the finest of STEPS giving at most MAX_POINTS points."""
    return next((s for s in STEPS if seconds / s <= MAX_POINTS), STEPS[-1])


def parse_range(text: str, retention_days: int, field: str = "timeRange") -> TimeRange:
    """'30d' -> TimeRange(seconds=2592000, step=86400); ValueError naming `field`, the allowed form and the
    bound (the retention) otherwise."""
    match = _RANGE.match(text.strip())
    if not match:
        raise ValueError(f"{field}: {text[:40]!r} is not a range; use {RANGE_FORM}, at most {retention_days}d")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < SHORTEST:
        raise ValueError(f"{field}: {text!r} is shorter than 5m, the shortest range")
    if seconds > retention_days * 86400:
        raise ValueError(
            f"{field}: {text!r} is longer than the {retention_days}d of snapshots kept (METRICS_RETENTION_DAYS, "
            f"config key metrics_retention_days); for longer ranges read Prometheus: perfbudget report --source URL")
    return TimeRange(match.group(1) + match.group(2), seconds, step_for(seconds))
