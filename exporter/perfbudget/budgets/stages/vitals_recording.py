"""Stage 1: Web Vitals SLI recording rules, per (route, device) and per site where the exporter has sites,
over every window a budget or a dashboard reads. The alerts (stage 2) and the dashboards read these rules,
never the raw histograms, so both always show one number.
"""

from __future__ import annotations

from ...vitals import VITALS, Vital
from .. import naming
from ..model import Budgets
from ..promql import by_duration
from ..rulefmt import Recording, RuleGroup

GROUP = "perfbudget-web-vitals-sli"
DASHBOARD_WINDOW = "1h"  # the window the dashboards' tables and stats read
DEFAULT_PERCENTILE = 75.0


def vital_windows(budgets: Budgets, vital: Vital) -> dict[str, list[float]]:
    """Window -> the percentiles recorded over it, for one vital (the dashboards' window always)."""
    out: dict[str, set[float]] = {DASHBOARD_WINDOW: {DEFAULT_PERCENTILE}}
    for budget in budgets.vitals:
        if budget.metric == vital.name:
            out.setdefault(budget.window, {DEFAULT_PERCENTILE}).add(budget.percentile)
    return {window: sorted(out[window]) for window in by_duration(out)}


def _window_rules(vital: Vital, window: str, percentiles: list[float]) -> list[Recording]:
    buckets = naming.vital_bucket_increase(vital, window)
    count = naming.vital_count_increase(vital, window)
    rules = [
        Recording(buckets, f"sum by ({naming.VITAL_BY}, le) (increase({vital.metric}_bucket[{window}]))"),
        Recording(count, f"sum by ({naming.VITAL_BY}) (increase({vital.metric}_count[{window}]))"),
    ]
    rules += [Recording(naming.vital_quantile(vital, percentile, window),
                        f"histogram_quantile({naming.number(percentile / 100)}, {buckets})")
              for percentile in percentiles]
    rules.append(Recording(
        naming.vital_good_ratio(vital, window),
        f'sum without (le) ({buckets}{{le="{naming.le(vital.good)}"}})\n/ {count}',
    ))
    return rules


def rule_groups(budgets: Budgets) -> tuple[RuleGroup, ...]:
    """The recording rules of every vital, budget or not (the dashboards show them all)."""
    rules = [rule
             for vital in VITALS.values()
             for window, percentiles in vital_windows(budgets, vital).items()
             for rule in _window_rules(vital, window, percentiles)]
    return (RuleGroup(GROUP, tuple(rules)),)
