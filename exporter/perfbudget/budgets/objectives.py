"""Objectives on the good share of a Web Vital (`objectives:` in the budgets file): "75 % of page loads
with LCP at or under 2.5 s, over 28 days", per route and device, alerted by multiwindow multi-burn-rate
alerts (`burn_rates`) like the availability objective.

The threshold becomes a bucket edge of the vital's histogram (`Budgets.bucket_targets`), as a budget's target
does, so the good share is counted exactly, never interpolated.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..config.base import StrictModel
from ..vitals import VITALS
from .burn_rates import BurnRate, burn_threshold, workbook_burn_rates
from .fields import BudgetName, Device, Duration, RouteRegex, SiteName, check_measurable, route_slug, seconds

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def _ratio(value: Any) -> Any:
    """0.75 or '75%' -> 0.75; anything else is refused with what to write instead."""
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if not match:
            raise ValueError("must be a ratio such as 0.75 or a percentage such as '75%'")
        value = float(match.group(1)) / 100
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a ratio such as 0.75 or a percentage such as '75%'")
    if not 0 < value < 1:
        raise ValueError("must be between 0 and 1 exclusive (a ratio such as 0.75) or a percentage such as '75%' "
                         "(a bare 75 is ambiguous)")
    return round(float(value), 12)


def _percent_text(ratio: float) -> str:
    return f"{ratio * 100:.10g}"


class VitalObjective(StrictModel):
    """`objective` of the page loads on each (route, device) in scope have `metric` at or under `threshold`,
    over `window`; each burn rate alerts with `min_samples` loads and `min_clients` distinct clients in its
    long window."""

    metric: Literal["LCP", "INP", "CLS", "FCP", "TTFB"]
    objective: float  # a ratio after validation: 0.75
    # Base units after validation: seconds for the timing vitals, the score for CLS.
    threshold: Annotated[float, Field(gt=0)]
    window: Duration = "28d"
    name: BudgetName | None = None
    route: RouteRegex | None = None
    device: Device | None = None
    # One of the config's `sites:` (or `other`), as a budget's; every site when unset, each alerted on its own.
    site: SiteName | None = None
    min_samples: Annotated[int, Field(ge=0)] = 50
    min_clients: Annotated[int, Field(ge=0, le=1_000_000)] = 5
    # None: the SRE workbook's four tiers scaled to `window`, less those the objective cannot reach.
    burn_rates: Annotated[list[BurnRate], Field(min_length=1)] | None = None

    @field_validator("threshold", mode="before")
    @classmethod
    def _units(cls, value: Any, info: ValidationInfo) -> Any:
        vital = VITALS.get(str(info.data.get("metric")))
        return seconds(value, ms_numbers=vital.ms if vital else True)

    @field_validator("objective", mode="before")
    @classmethod
    def _objective(cls, value: Any) -> Any:
        return _ratio(value)

    @model_validator(mode="after")
    def _reachable(self) -> VitalObjective:
        check_measurable(self.metric, self.threshold, "threshold")
        for index, burn in enumerate(self.burn_rates or ()):
            if burn_threshold(self.error_budget, burn) >= 1:
                raise ValueError(
                    f"burn_rates[{index}]: {burn.burn_rate:g}x can never fire: it needs more than "
                    f"{burn_threshold(self.error_budget, burn) * 100:g}% of page loads over the threshold, and "
                    f"with an objective of {_percent_text(self.objective)}% the error budget "
                    f"({_percent_text(self.error_budget)}%) burns at most {self.max_burn_rate:.4g}x")
        return self

    @property
    def error_budget(self) -> float:
        """The share of page loads allowed over the threshold: 0.75 -> 0.25."""
        return round(1.0 - self.objective, 12)

    @property
    def max_burn_rate(self) -> float:
        """Every page load over the threshold: the fastest the error budget can burn."""
        return 1.0 / self.error_budget

    @property
    def objective_percent(self) -> str:
        """0.75 -> '75', 0.975 -> '97.5'."""
        return _percent_text(self.objective)

    @property
    def alerting_burn_rates(self) -> list[BurnRate]:
        """The burn rates that get an alert: the given ones, or the workbook's that can fire (a 75 % objective
        burns at most 4x, so its 14.4x and 6x pages could never fire: they are left out)."""
        if self.burn_rates is not None:
            return list(self.burn_rates)
        return [burn for burn in workbook_burn_rates(self.window) if burn_threshold(self.error_budget, burn) < 1]

    @property
    def unreachable_burn_rates(self) -> list[BurnRate]:
        """The workbook tiers left out because this objective cannot burn that fast (none when given)."""
        if self.burn_rates is not None:
            return []
        return [burn for burn in workbook_burn_rates(self.window) if burn_threshold(self.error_budget, burn) >= 1]

    @property
    def budget_name(self) -> str:
        """The `budget` label: the given name, else metric-slo-objective[-site][-device][-route-slug] (lcp-slo-75)."""
        if self.name:
            return self.name
        parts = [self.metric.lower(), "slo", self.objective_percent.replace(".", "_")]
        if self.site:
            parts.append(self.site)
        if self.device:
            parts.append(self.device)
        if self.route:
            parts.append(route_slug(self.route))
        return "-".join(parts)
