"""The founding contract's view of a summary: budget verdicts per vital and device, and the `vitals` list.

`summary.py` computes the window's figures per vital (`metrics`, keyed by name); this module says what they
mean against the budget that applies (`budget`, `withinBudget`, per device `devices`, `budgetsMet`, the
critical issues) and writes the contract's list
(`vitals`: name, value, rating, target, unit, trend as a number, pageUrl, diagnosis and suggestedFix as
sentences), with the structured detail in further fields: for LCP and INP the `breakdown` at p75 of their
subparts or phases (summary_breakdown.py), whose dominant part the diagnosis names and whose fix it suggests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from .summary_breakdown import breakdown_sentence
from .vitals import Vital

#: Who is blamed, per attribution key of the summary's `diagnosis` (attribution.DIAGNOSIS_KINDS).
BLAMED = {
    "lcpResources": "LCP resource",
    "lcpElements": "LCP element",
    "interactionTargets": "interaction target",
    "longestScripts": "long script",
    "largestShiftTargets": "layout shift target",
}


class BudgetRule(Protocol):
    """What the summary reads of the budget that applies to a vital (budgets.model.VitalBudget)."""

    @property
    def min_samples(self) -> int: ...

    @property
    def target(self) -> float: ...

    @property
    def percentile(self) -> float: ...

    @property
    def severity(self) -> str: ...

    @property
    def budget_name(self) -> str: ...


def display(vital: Vital, value: float | None) -> float | None:
    """A base-unit value in the vital's display unit, rounded as the answers show it."""
    if value is None:
        return None
    shown = vital.to_display(value)
    return round(shown, 4) if not vital.ms else round(shown, 1)


def budget_view(vital: Vital, budget: BudgetRule | None) -> dict[str, Any] | None:
    """The budget that applies, as the answer shows it: its name, target (display unit) and severity."""
    if budget is None:
        return None
    return {"name": budget.budget_name, "target": display(vital, budget.target), "severity": budget.severity,
            "percentile": budget.percentile}


def within_budget(value: float | None, budget: BudgetRule | None) -> bool | None:
    """Whether the budget's percentile (base unit) is at or under its target; None without data or budget."""
    if value is None or budget is None:
        return None
    return value <= budget.target


def range_text(vital: Vital, lower: float, upper: float | None, samples: int) -> str:
    """A bucket for people: "3.0-4.0 s, 1 sample", "172-200 ms, 12 samples", "over 22.4 s, 3 samples"."""
    count = f"{samples} sample{'' if samples == 1 else 's'}"
    seconds = vital.ms and (upper if upper is not None else lower) >= 1.0
    scale, unit = (1.0, " s") if seconds else (1000.0, " ms") if vital.ms else (1.0, "")

    def number(value: float) -> str:
        if vital.ms and not seconds:
            return f"{value * scale:.0f}"
        text = f"{value * scale:.3g}"
        return text if "." in text or "e" in text else f"{text}.0"

    if upper is None:
        return f"over {number(lower)}{unit}, {count}"
    if lower == 0:
        return f"under {number(upper)}{unit}, {count}"
    return f"{number(lower)}-{number(upper)}{unit}, {count}"


def critical_issue(vital: Vital, entry: dict[str, Any], route: str | None) -> dict[str, Any] | None:
    """A critical issue when the p75 is poor or the budget that applies is broken (one per vital)."""
    poor = entry["rating"] == "poor"
    broken = entry["withinBudget"] is False
    if not poor and not broken:
        return None
    unit = vital.display_unit
    reasons = []
    if broken:
        budget = entry["budget"]
        reasons.append(f"over the {budget['name']} budget of {budget['target']:g}{unit} ({budget['severity']})")
    if poor:
        reasons.append(f"poor (over {display(vital, vital.poor):g}{unit})")
    return {
        "metric": vital.name,
        "value": entry["value"],
        "target": entry["target"],
        "budget": entry["budget"]["name"] if broken else None,
        "kind": "budget" if broken else "rating",
        "message": f"{vital.name} p75 is {entry['value']:g}{unit} on {route or 'all routes'}, " + " and ".join(reasons),
    }


def last_checked(now: float) -> str:
    """ISO-8601 with its time zone: '2025-10-15T12:00:00Z'."""
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def trend_change(vital: Vital, value: float | None, previous: float | None) -> float | None:
    """The change against the previous window in the display unit; None without both windows' data."""
    if value is None or previous is None:
        return None
    return round(value - previous, 4 if not vital.ms else 1)


def _number(vital: Vital, value: float) -> str:
    return f"{value:g} {vital.display_unit}" if vital.display_unit else f"{value:g}"


def diagnosis_sentence(vital: Vital, entry: dict[str, Any], route: str | None) -> str:
    """What the window and the beacons' attribution say, for a person: the p75 against its budget, then the
    most-blamed element or resource per kind with its page-load count (counted since the attribution store
    began, not only in this window)."""
    where = route or "all routes"
    if entry["value"] is None:
        return f"No {vital.name} reports on {where} in this window."
    samples = int(entry["samples"])
    head = f"{vital.name} p75 is {_number(vital, entry['value'])} over {samples} page load" \
           f"{'' if samples == 1 else 's'} on {where}"
    budget = entry.get("budget")
    if budget is not None and entry.get("withinBudget") is not None:
        verdict = "over" if entry["withinBudget"] is False else "within"
        head += f", {verdict} the {budget['name']} budget of {_number(vital, budget['target'])}"
    blamed = [
        f"{BLAMED.get(key, key)} {items[0]['value']} ({items[0]['count']} page load"
        f"{'' if items[0]['count'] == 1 else 's'})"
        for key, items in (entry.get("diagnosis") or {}).items() if items
    ]
    parts = breakdown_sentence(vital.name, entry.get("breakdown"))  # "" without one
    if blamed:
        return f"{head}.{parts} Most blamed: {'; '.join(blamed)}."
    if entry.get("diagnosis") == {}:  # attribution.DIAGNOSIS_KINDS keeps nothing for this vital
        return f"{head}.{parts} Its attribution is not kept, so nothing is blamed."
    return f"{head}.{parts} No attribution recorded for it yet."


def fix_sentence(vital: Vital, entry: dict[str, Any], fix: dict[str, Any] | None) -> str:
    """What a person can do: preview the suggested playbook's dry run, or why nothing is suggested."""
    if entry["value"] is None:
        return f"Nothing to fix yet: no {vital.name} data in this window."
    if fix is None:
        if entry.get("withinBudget") is False:
            return f"No playbook addresses {vital.name}; look at the diagnosis."
        return f"None needed: {vital.name} is within its target."
    expected = fix.get("expectedImprovement")
    cause = fix.get("cause")  # the breakdown's dominant part chose the playbook (summary_breakdown.part_fix)
    why = ""
    if cause is not None:
        why = f" for {cause['part'].replace('_', ' ')}: {cause['why']}" + (
            f" (its {cause['action']} action)" if cause.get("action") else "") + (
            f"; the longest script the beacons blame is {cause['script']}" if cause.get("script") else "")
    return (f"Preview the {fix['name']} playbook{why}: POST /api/perf-fix {{playbookId: {fix['playbookId']}, "
            f"dryRun: true}}" + (f" (expected: {expected})" if expected else "") + ".")


def device_verdict(vital: Vital, device: str, p75: float | None, at_percentile: float | None, samples: int,
                   budget: BudgetRule | None, own: bool) -> dict[str, Any]:
    """One device's verdict: its p75 (display unit), the budget that applies on it and whether that is the
    device's own (`ownBudget`: a budget with `device:`) or the one every device shares."""
    return {"device": device, "value": display(vital, p75), "samples": samples,
            "budget": budget_view(vital, budget), "ownBudget": own,
            "withinBudget": within_budget(at_percentile, budget)}


def device_issues(vital: Vital, entry: dict[str, Any], route: str | None) -> list[dict[str, Any]]:
    """A critical issue per device whose own budget is broken (the shared budget's verdict is the vital's)."""
    unit = vital.display_unit
    out = []
    for item in entry.get("devices", ()):
        if item["ownBudget"] and item["withinBudget"] is False:
            budget = item["budget"]
            out.append({
                "metric": vital.name, "value": item["value"], "target": budget["target"], "budget": budget["name"],
                "kind": "device-budget", "device": item["device"],
                "message": f"{vital.name} p75 is {item['value']:g}{unit} on {item['device']} on "
                           f"{route or 'all routes'}, over the {budget['name']} budget of {budget['target']:g}{unit}"
                           f" ({budget['severity']})",
            })
    return out


def contract_vital(vital: Vital, entry: dict[str, Any], route: str | None, page_url: str | None,
                   page_url_reason: str | None) -> dict[str, Any]:
    """One item of the contract's `vitals` list from the summary's `metrics[name]` entry. `page_url`: a URL
    the route's beacons reported (None with `page_url_reason` saying why)."""
    fix = entry.get("suggestedFix")
    return {
        "name": vital.name,
        "value": entry["value"],
        "rating": entry["rating"],
        "target": entry["target"],
        "unit": entry["unit"],
        "trend": trend_change(vital, entry["value"], entry["previous"]),
        "trendDirection": entry["trend"],
        "pageUrl": page_url,
        "pageUrlReason": page_url_reason,
        "diagnosis": diagnosis_sentence(vital, entry, route),
        "suggestedFix": fix_sentence(vital, entry, fix),
        "diagnosisDetail": entry.get("diagnosis"),
        "suggestedFixDetail": fix,
        "budget": entry["budget"],
        "withinBudget": entry["withinBudget"],
        "devices": entry["devices"],
        "breakdown": entry.get("breakdown"),  # LCP's subparts, INP's phases at p75 (null for the other vitals)
        "samples": entry["samples"],
        "confidence": entry.get("confidence"),
    }


def budgets_met(metrics: dict[str, dict[str, Any]]) -> dict[str, int]:
    """How many budget verdicts with data are within their budget, of how many: each vital's, and each
    device's own budget (the budget every device shares is counted once, in the vital's verdict)."""
    verdicts = [entry["withinBudget"] for entry in metrics.values() if entry["withinBudget"] is not None]
    verdicts += [item["withinBudget"] for entry in metrics.values() for item in entry.get("devices", ())
                 if item["ownBudget"] and item["withinBudget"] is not None]
    return {"met": sum(1 for ok in verdicts if ok), "total": len(verdicts)}
