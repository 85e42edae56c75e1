"""Fix outcomes in words: a window's figures, bytes, the ROI sentence and one line per playbook."""

from __future__ import annotations

from typing import Any

from ..vitals import Vital

NOT_ENOUGH_DATA = "not enough data"


def number(value: float) -> str:
    """40000 -> "40,000"; 4.25 -> "4.3"; whole numbers without decimals."""
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.1f}"


def vital_value(vital: Vital, base: float) -> str:
    if not vital.ms:
        return f"{base:.3f}"
    return f"{base:.2f} s" if base >= 1 else f"{base * 1000:.0f} ms"


def window_text(vital: Vital, p75: float | None, good: float | None, samples: int, minimum: int) -> str:
    if samples == 0 or samples < minimum or p75 is None:
        return f"{NOT_ENOUGH_DATA} ({samples} of {minimum} page loads)"
    share = "" if good is None else f", {good * 100:.0f} % good"
    return f"p75 {vital_value(vital, p75)}{share} over {samples:,} page loads"


def bytes_text(value: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"


def roi_text(points: float, views_per_day: float, more_per_day: float) -> str:
    """"+12 points on 40,000 views a day = 4,800 more good loads a day"."""
    sign = "+" if points >= 0 else "-"
    change = "more" if more_per_day >= 0 else "fewer"
    return (f"{sign}{number(abs(points))} points on {number(views_per_day)} views a day = "
            f"{number(abs(more_per_day))} {change} good loads a day")


def duration_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:.0f} s"


def playbook_sentence(book: dict[str, Any]) -> str:
    """One playbook's outcomes as a person reads them in the console and the report."""
    runs, executions = book["runs"], book["executions"]
    if not runs:
        return "No runs yet."
    parts = [f"{runs} run{'' if runs == 1 else 's'}, {executions} execution{'' if executions == 1 else 's'}"]
    if executions:
        counts = book["outcomes"]
        rate = book["successRate"] or 0.0
        parts.append(f"{counts['improved']} improved past its budget ({rate * 100:.0f} % success)")
        rest = [f"{counts[key]} {words}" for key, words in (
            ("notImproved", "not improved"), ("waiting", "waiting for data"), ("notEnoughData", NOT_ENOUGH_DATA),
            ("failed", "failed"), ("rolledBack", "rolled back"), ("unmeasured", "not measurable")) if counts[key]]
        if rest:
            parts.append(", ".join(rest))
    for key, words in (("executed", "after an execute"), ("byHand", "by hand")):
        times = book["timeToResolution"][key]
        if times["count"]:
            parts.append(f"alerts resolved {words} in {duration_text(times['medianSeconds'])} "
                         f"(median of {times['count']})")
    before, after = book["before"], book["after"]
    if before is not None and after is not None:
        where = f" on {book['route']}" if book.get("route") else ""
        parts.append(f"{book['metric']}{where}: before {before['text']}; after {after['text']}")
    if book["roi"] is not None:
        parts.append(book["roi"]["text"])
    if book["bytesSaved"]:
        parts.append(f"{book['bytesSavedText']} saved")
    return "; ".join(parts) + "."
