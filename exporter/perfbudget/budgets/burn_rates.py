"""Multiwindow, multi-burn-rate alerting (the SRE workbook, chapter 5), shared by every objective: the
availability of a service and the good share of a Web Vital.

An objective over a period allows an error budget (1 - objective) of bad events. A burn rate of N spends it
N times too fast (all of it in period / N); an alert fires when the error ratio is over N x the error budget
over both a long window (to be sure) and a short one (to resolve fast once the burn stops).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import Field, model_validator

from ..config.base import StrictModel
from .fields import Duration, ForDuration, Severity, parse_duration

# The workbook's four tiers for a 30-day objective: (share of the error budget spent, long window, short
# window, severity). Page on 2 % spent in 1 h (14.4x) or 5 % in 6 h (6x); ticket on 10 % in 1 d (3x) or
# 10 % in 3 d (1x).
WORKBOOK_PERIOD = "30d"
WORKBOOK_TIERS: tuple[tuple[float, str, str, Severity], ...] = (
    (0.02, "1h", "5m", "critical"),
    (0.05, "6h", "30m", "critical"),
    (0.10, "1d", "2h", "warning"),
    (0.10, "3d", "6h", "warning"),
)


class BurnRate(StrictModel):
    """Alert when the error budget burns `burn_rate` times too fast over both windows."""

    burn_rate: Annotated[float, Field(gt=0)]
    long_window: Duration
    short_window: Duration
    severity: Severity
    for_: Annotated[ForDuration, Field(alias="for")] = "2m"

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @model_validator(mode="after")
    def _windows(self) -> BurnRate:
        if parse_duration(self.short_window) >= parse_duration(self.long_window):
            raise ValueError(f"short_window {self.short_window} must be shorter than long_window {self.long_window}")
        return self


def workbook_burn_rates(period: str) -> list[BurnRate]:
    """The workbook's four tiers scaled to `period`: the same windows and the same share of the error budget
    spent in each long window, so 14.4x/6x/3x/1x over 30 days and 13.44x/5.6x/2.8x/0.933x over 28 days."""
    days = parse_duration(period)
    return [BurnRate(burn_rate=float(f"{spent * days / parse_duration(long):.12g}"), long_window=long,
                     short_window=short, severity=severity)
            for spent, long, short, severity in WORKBOOK_TIERS]


def burn_threshold(error_budget: float, burn: BurnRate) -> float:
    """The error ratio at which an error budget burns `burn_rate` times too fast."""
    return round(burn.burn_rate * error_budget, 12)


def budget_spent(burn: BurnRate, period: str) -> float:
    """The share of the error budget a burn at `burn_rate` spends over its long window."""
    return burn.burn_rate * parse_duration(burn.long_window) / parse_duration(period)


def burn_windows(burn_rates: Iterable[BurnRate]) -> list[str]:
    """Every window the burn-rate alerts read, long and short, in the order given (duplicates kept)."""
    return [window for burn in burn_rates for window in (burn.long_window, burn.short_window)]
