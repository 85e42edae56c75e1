"""`perfbudget compare`'s answers: an aligned table for people reading CI logs, and the same as JSON.

Values are in the units people read (milliseconds for the timing vitals, the unitless score for CLS), as
the summary's answers are; good shares in percent, their changes in percentage points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .stats import Comparison, Thresholds, ZTest, exit_code


@dataclass(frozen=True, slots=True)
class Report:
    version_from: str
    version_to: str
    source: str
    window: str | None  # the increase's window (Prometheus), None for an exporter's counts since its start
    thresholds: Thresholds
    comparisons: Sequence[Comparison]
    selector: Mapping[str, str] = field(default_factory=dict)  # the labels fixed (route, device, site)

    @property
    def exit_code(self) -> int:
        return exit_code(self.comparisons)


def _value(comparison: Comparison, base: float | None) -> float | None:
    if base is None:
        return None
    vital = comparison.vital
    return round(vital.to_display(base), 1 if vital.ms else 4)


def _round(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return value
    return round(value, digits)


def _test(test: ZTest | None, comparison: Comparison) -> dict[str, Any] | None:
    if test is None:
        return None
    return {"edge": _value(comparison, test.edge), "shareFrom": _round(test.share_from, 4),
            "shareTo": _round(test.share_to, 4), "z": round(test.z, 4), "pValue": _p(test.p_value)}


def _p(p: float) -> float:
    return float(f"{p:.4g}")


def as_json(report: Report) -> dict[str, Any]:
    t = report.thresholds
    vitals = []
    for c in report.comparisons:
        vitals.append({
            "metric": c.vital.name,
            "unit": c.vital.display_unit,
            "from": {"samples": _round(c.samples_from, 1), "p75": _value(c, c.p75_from),
                     "goodShare": _round(c.good_from, 4)},
            "to": {"samples": _round(c.samples_to, 1), "p75": _value(c, c.p75_to), "goodShare": _round(c.good_to, 4)},
            "p75ChangePercent": _round(c.p75_change_percent, 2),
            "goodShareChangePoints": _round(c.good_change_points, 2),
            "p75Test": _test(c.p75_test, c),
            "goodShareTest": _test(c.good_test, c),
            "verdict": c.verdict,
        })
    return {
        "from": report.version_from, "to": report.version_to, "source": report.source, "window": report.window,
        "selector": dict(report.selector),
        "test": "two-proportion z-test (two-sided) on the bucket counts: Mood's quantile test at the edge nearest "
                "the pooled p75, and the good share at Google's good threshold",
        "thresholds": {"p75Percent": t.p75_percent, "goodSharePoints": t.good_share_points, "alpha": t.alpha,
                       "minSamples": t.min_samples},
        "vitals": vitals,
        "exitCode": report.exit_code,
    }


def _number(value: float | None, ms: bool) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f} ms" if ms else f"{value:.3f}"


def _change(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if math.isinf(value):
        return " (+inf %)"
    return f" ({value:+.1f}{unit})"


def _samples(value: float) -> str:
    return f"{value:,.0f}"


def _pvalue(test: ZTest | None) -> str:
    if test is None:
        return "-"
    return f"{test.p_value:.2g}" if test.p_value < 0.001 else f"{test.p_value:.3f}"


def table(report: Report) -> str:
    """The comparison as an aligned text table, a header line naming the versions and source, and a
    closing line with the gate's outcome."""
    rows = [("vital", "samples", f"p75 {report.version_from} → {report.version_to}", "p (p75)",
             f"good {report.version_from} → {report.version_to}", "p (good)", "verdict")]
    for c in report.comparisons:
        ms = c.vital.ms
        p75_from, p75_to = _value(c, c.p75_from), _value(c, c.p75_to)
        good = "-"
        if c.good_from is not None and c.good_to is not None:
            good = f"{100 * c.good_from:.1f} % → {100 * c.good_to:.1f} %{_change(c.good_change_points, ' pt')}"
        rows.append((
            c.vital.name,
            f"{_samples(c.samples_from)} / {_samples(c.samples_to)}",
            f"{_number(p75_from, ms)} → {_number(p75_to, ms)}{_change(c.p75_change_percent, ' %')}",
            _pvalue(c.p75_test),
            good,
            _pvalue(c.good_test),
            c.verdict,
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    t = report.thresholds
    window = f", increase over {report.window}" if report.window else ", counts since the exporter started"
    only = "".join(f", {key}={value}" for key, value in sorted(report.selector.items()))
    head = (f"perfbudget compare {report.version_from} → {report.version_to} ({report.source}{window}{only}); worse = "
            f"p75 +{t.p75_percent:g} % or good share -{t.good_share_points:g} pt, significant at {t.alpha:g}; "
            f"at least {t.min_samples:g} page views per version")
    outcome = {0: "no vital significantly worse", 1: "a vital is significantly worse",
               2: "too few samples to tell for a vital"}[report.exit_code]
    return "\n".join([head, "", *lines, "", f"result: {outcome} (exit {report.exit_code})", ""])
