"""The web vitals over an analytics range, from the summary's snapshot windows: per route and vital the p75,
the good share, the budget's verdict and the trend between the range's halves; and per vital the series of
p75 and good share per step that the report's charts draw."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import add
from typing import Any

from ..summary import VitalState
from ..summary_contract import BudgetRule, budget_view, display, last_checked, within_budget
from ..vitals import VITALS, Vital
from .ranges import TimeRange
from .sources import VitalCounts
from .trends import Trend, lower_is_better

BudgetFor = Callable[[str, str | None, str | None], BudgetRule | None]
#: The most routes an answer lists (the busiest); the rest are counted in `routesOmitted`.
MAX_ROUTES = 50


@dataclass(frozen=True)
class VitalRow:
    """One vital on one route (None: every route) over the range."""

    vital: Vital
    route: str | None
    state: VitalState
    first: VitalState  # the range's first half
    second: VitalState  # its second half
    budget: BudgetRule | None

    @property
    def p75(self) -> float | None:
        return self.state.p(0.75)

    @property
    def within(self) -> bool | None:
        if self.budget is None:
            return None
        return within_budget(self.state.p(self.budget.percentile / 100), self.budget)

    @property
    def trend(self) -> Trend | None:
        return lower_is_better(self.first.p(0.75), self.second.p(0.75))

    @property
    def confident(self) -> bool:
        return self.state.samples >= (self.budget.min_samples if self.budget is not None else 50)

    def to_json(self) -> dict[str, Any]:
        vital, p75 = self.vital, self.p75
        share = self.state.share_at_most(vital.good)
        first, second = self.first.p(0.75), self.second.p(0.75)
        return {
            "p75": display(vital, p75),
            "unit": vital.display_unit or "score",
            "rating": vital.rate(p75) if p75 is not None else None,
            "samples": self.state.samples,
            "goodShare": None if share is None else round(share, 4),
            "budget": budget_view(vital, self.budget),
            "withinBudget": self.within,
            "confidence": None if p75 is None else ("high" if self.confident else "low"),
            "trend": self.trend,
            "firstHalfP75": display(vital, first),
            "secondHalfP75": display(vital, second),
        }


def _plus(a: list[float] | None, b: list[float] | None) -> list[float]:
    if not a or not b or len(a) != len(b):
        return list(a or b or [])
    return list(map(add, a, b))


class VitalsWindows:
    """The vitals over a range, from any `VitalCounts` (the exporter's snapshots or Prometheus)."""

    def __init__(self, source: VitalCounts, budget_for: BudgetFor) -> None:
        self._source = source
        self._budget_for = budget_for

    def rows(self, span: TimeRange, now: float, route: str | None) -> dict[str, VitalRow]:
        """Per vital with samples in the range on `route`, its row."""
        start, mid = now - span.seconds, now - span.seconds / 2
        first = self._source.counts(start, mid, route)
        second = self._source.counts(mid, None, route)
        out: dict[str, VitalRow] = {}
        for name, vital in VITALS.items():
            one, two = first.get(name), second.get(name)
            if one is not None and two is not None and one[0] != two[0]:
                one = None  # other bucket edges in the first half (the budgets changed): the second half counts
            edges = (two or one or ((), []))[0]
            a, b = (one[1] if one else []), (two[1] if two else [])
            state = VitalState(vital, edges, _plus(a, b))
            if not state.samples:
                continue
            out[name] = VitalRow(vital, route, state, VitalState(vital, edges, a), VitalState(vital, edges, b),
                                 self._budget_for(name, route, None))
        return out

    def by_route(self, span: TimeRange, now: float) -> tuple[dict[str, dict[str, VitalRow]], int]:
        """Per route (the MAX_ROUTES busiest), per vital, its row; and how many routes were left out."""
        rows = {route: r for route in self._source.routes(now - span.seconds, now)
                if (r := self.rows(span, now, route))}
        busiest = sorted(rows, key=lambda route: -max(row.state.samples for row in rows[route].values()))
        kept = set(busiest[:MAX_ROUTES])
        return {route: r for route, r in rows.items() if route in kept}, max(0, len(rows) - MAX_ROUTES)

    def series(self, span: TimeRange, now: float) -> dict[str, Any]:
        """Per vital over every route: p75, good share and samples per step (each point the window that ends
        at its `t`), with the site-wide budget the charts draw as a line."""
        start = now - span.seconds
        windows = self._source.steps(start, span.step, span.points, now)
        vitals: dict[str, Any] = {}
        for name, vital in VITALS.items():
            budget = self._budget_for(name, None, None)
            points = []
            for b, counts in windows:
                edges, cumulative = counts.get(name, ((), []))
                state = VitalState(vital, edges, cumulative)
                share = state.share_at_most(vital.good)
                points.append({"t": last_checked(b), "ts": round(b, 3), "p75": display(vital, state.p(0.75)),
                               "goodShare": None if share is None else round(share, 4), "samples": state.samples})
            vitals[name] = {"unit": vital.display_unit or "score", "budget": budget_view(vital, budget),
                            "good": display(vital, vital.good), "poor": display(vital, vital.poor),
                            "points": points}
        return {"step": span.step, "start": last_checked(start), "end": last_checked(now), "vitals": vitals}
