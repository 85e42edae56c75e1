"""`promtool test rules` pieces for the `cause` label of LCP and INP alerts (stage `vitals_causes`): the
breakdown histograms' series with one part dominant, and the label the alerts carry without any.

The series are the exporter's own (`perfbudget_lcp_subpart_seconds_bucket{route, device[, site], subpart, le}`,
`perfbudget_inp_phase_seconds_bucket{..., phase, le}`), on two edges of our choosing: the dominant part's
samples all fall in (0.1 s, 1 s], every other part's at or under 0.1 s, so the dominant p75 is 0.775 s against
0.075 s.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import naming
from .rule_test_series import counter, series

_LOW, _HIGH = "0.1", "1"


def causes(metric: str) -> tuple[str, ...]:
    """The parts an alert of `metric` can name as its cause (none for a vital without a breakdown)."""
    return naming.BREAKDOWNS[metric][2] if metric in naming.BREAKDOWNS else ()


def unknown_cause(metric: str) -> dict[str, str]:
    """The `cause` label an alert of `metric` carries with no breakdown data: `unknown`, or none at all."""
    return {naming.CAUSE_LABEL: naming.CAUSE_UNKNOWN} if metric in naming.BREAKDOWNS else {}


def breakdown_series(metric: str, labels: Mapping[str, str], dominant: str, span: int,
                     per_minute: float) -> tuple[tuple[str, str], ...]:
    """Every part's bucket series at (route, device[, site]) `labels` for `span` minutes, `per_minute`
    samples each, `dominant`'s slowest."""
    name, part, parts = naming.BREAKDOWNS[metric]
    samples = counter([(per_minute, span)])
    none = counter([(0.0, span)])
    out: list[tuple[str, str]] = []
    for each in parts:
        at = {**labels, part: each}
        out += [(series(f"{name}_bucket", {**at, "le": _LOW}), none if each == dominant else samples),
                (series(f"{name}_bucket", {**at, "le": _HIGH}), samples),
                (series(f"{name}_bucket", {**at, "le": "+Inf"}), samples)]
    return tuple(out)
