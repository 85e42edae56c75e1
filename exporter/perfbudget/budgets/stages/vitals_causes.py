"""Stage 1b: why a vital is slow, for its alerts to say so in a `cause` label.

The exporter records LCP's subparts and INP's phases as histograms (`naming.BREAKDOWNS`). Over every window an
LCP or INP alert reads, this stage records each part's p75 per (route, device[, site]) and the dominant part:
the one whose p75 is highest, named by a `cause` label (`topk by (route, device, site) (1, ...)`). `with_cause`
joins that label onto an alert's expression (`group_left (cause)`, the alert's value unchanged); where there
is no breakdown data (an older exporter, reports without attribution) the alert gets `cause="unknown"` from its
own series instead, so it fires all the same. The webhook then picks the playbook that addresses the cause
(the playbooks' `match:` on `cause`).
"""

from __future__ import annotations

from ...vitals import VITALS, Vital
from .. import naming
from ..model import Budgets
from ..promql import by_duration
from ..rulefmt import Recording, RuleGroup

GROUP = "perfbudget-web-vitals-causes"


def has_breakdown(vital: Vital) -> bool:
    return vital.name in naming.BREAKDOWNS


def cause_windows(budgets: Budgets, vital: Vital) -> list[str]:
    """The windows the alerts of `vital` read (budgets and regressions: the budget's window; objectives:
    each alerting burn rate's long window), shortest first; none for a vital without a breakdown."""
    if not has_breakdown(vital):
        return []
    windows = [budget.window for budget in budgets.vitals if budget.metric == vital.name]
    windows += [burn.long_window for objective in budgets.objectives if objective.metric == vital.name
                for burn in objective.alerting_burn_rates]
    return by_duration(windows)


def _window_rules(vital: Vital, window: str) -> list[Recording]:
    metric, part, _ = naming.BREAKDOWNS[vital.name]
    buckets = naming.breakdown_bucket_increase(vital, window)
    quantile = naming.breakdown_quantile(vital, window)
    quantile_text = naming.number(naming.CAUSE_PERCENTILE / 100)
    # `>= 0` drops the NaN of a part without samples in the window, so that topk never names it.
    return [
        Recording(buckets, f"sum by ({naming.VITAL_BY}, {part}, le) (increase({metric}_bucket[{window}]))"),
        Recording(quantile, f"histogram_quantile({quantile_text}, {buckets})"),
        Recording(naming.breakdown_dominant(vital, window), (
            f"max by ({naming.VITAL_BY}, {naming.CAUSE_LABEL}) (label_replace(\n"
            f"  topk by ({naming.VITAL_BY}) (1, {quantile} >= 0),\n"
            f'  "{naming.CAUSE_LABEL}", "$1", "{part}", "(.+)"))')),
    ]


def with_cause(vital: Vital, window: str, expr: str, base: str) -> str:
    """`expr` (an alert's condition on `base`, a recorded series per route and device) with a `cause` label:
    the dominant part over `window`, else `unknown`. The value stays the condition's (times one)."""
    if not has_breakdown(vital):
        return expr
    dominant = naming.breakdown_dominant(vital, window)
    unknown = f'label_replace(0 * {base} + 1, "{naming.CAUSE_LABEL}", "{naming.CAUSE_UNKNOWN}", "", "")'
    return (f"(\n{expr}\n)\n* {naming.VITAL_ON} group_left ({naming.CAUSE_LABEL}) (\n"
            f"  0 * {dominant} + 1\n  or {naming.VITAL_ON}\n  {unknown}\n)")


def rule_groups(budgets: Budgets) -> tuple[RuleGroup, ...]:
    """The breakdown rules over every window an LCP or INP alert reads; no group when none does."""
    rules = [rule for vital in VITALS.values() for window in cause_windows(budgets, vital)
             for rule in _window_rules(vital, window)]
    return (RuleGroup(GROUP, tuple(rules)),) if rules else ()
