"""The summary's `breakdown` of LCP and INP at p75, the dominant part, and the fix it chooses.

The parts' histograms (subparts.BREAKDOWNS: perfbudget_lcp_subpart_seconds, perfbudget_inp_phase_seconds) go
into the summary's minute frames beside the vitals, per route under keys like "LCP.resource_load_delay"
(`part_key`), devices and sites summed away as for the vitals: so a breakdown covers the same window as its
vital's p75, and a route's breakdown is that route's. That costs 7 more series per route in the frames, of
which only those that changed in the hour are written (benchmarks/memory.py --series-table --frames: about
1.8x summary.sqlite's bytes, 8.2 -> 14.6 MiB a day for 50 routes busy every minute), a modest price for a
breakdown of the same window as its vital. A filtered answer (`?site=`) reads them from the live store since
start, as label_counts.py does the vitals; a `?version=` or `?navigation=` answer has none (the parts have
neither label).

Each part's p75 is interpolated in its own histogram (PromQL's histogram_quantile); its `share` is its p75
over the sum of the parts' p75s (p75s do not add up to the vital's p75: the shares say how the time splits,
not which page view), and `dominant` is the part with the largest p75. The dominant part chooses the fix
(PART_FIXES): each maps to the vital whose playbooks address that cause, so the suggestion is a playbook the
configuration really has (playbooks.suggest_fix), with the action or step that addresses the part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from operator import add
from typing import Any, Protocol

from .snapshots import Rows
from .store import Labels
from .subparts import BREAKDOWNS, PART_BUCKETS
from .summary_quantiles import Counts, quantile

#: What counts a breakdown covers, when it does not cover its vital's window (a filtered answer).
SINCE_START = "since the exporter started (a filtered answer is read from the live store)"
#: A label match the parts' histograms cannot answer: they have no version or navigation type label.
_NOT_LABELS = ("version", "navigation", "navigation_type")


class PartSource(Protocol):
    def rows(self, name: str, match: Mapping[str, str] | None = None) -> dict[Labels, list[float]]: ...


def part_key(vital: str, part: str) -> str:
    """The frames' key of one part of a vital ("LCP.resource_load_delay"), beside the vitals' own keys."""
    return f"{vital}.{part}"


#: Every part's frame key and its bucket edges (one ladder for all).
PART_EDGES: dict[str, tuple[float, ...]] = {
    part_key(name, part): PART_BUCKETS for name, breakdown in BREAKDOWNS.items() for part in breakdown.names}


def read_parts(reader: PartSource, out: Rows) -> None:
    """Per part key and route, the counts per bucket (not cumulative, +Inf last) of every worker's slabs, devices
    and sites summed away, into `out` (read_histograms' rows)."""
    for name, breakdown in BREAKDOWNS.items():
        for labels, row in reader.rows(breakdown.metric).items():
            counts = [int(c) for c in row[:-1]]  # the sum of the observations dropped
            target = out.setdefault(part_key(name, labels[-1]), {})
            acc = target.get(labels[0])
            target[labels[0]] = counts if acc is None else list(map(add, acc, counts))


def matched_parts(reader: PartSource, match: Mapping[str, str], route: str | None) -> dict[str, Counts] | None:
    """Per part key, the cumulative counts since start of the series matching `match` (and `route` unless
    None); None when `match` names a label the parts do not have (version, navigation)."""
    if any(label in match for label in _NOT_LABELS):
        return None
    wanted = dict(match)
    if route is not None:
        wanted["route"] = route
    totals: dict[str, list[float]] = {}
    for name, breakdown in BREAKDOWNS.items():
        for labels, row in reader.rows(breakdown.metric, wanted).items():
            key = part_key(name, labels[-1])
            acc = totals.get(key)
            totals[key] = row[:-1] if acc is None else list(map(add, acc, row[:-1]))
    return {key: [float(c) for c in accumulate(counts)] for key, counts in totals.items()}


def breakdown(vital: str, counts: Mapping[str, Counts], covers: str = "window") -> dict[str, Any] | None:
    """`vital`'s parts at p75 (ms), each one's share of their sum and the dominant one; None for a vital without
    parts or without a recorded breakdown in `counts`."""
    parts = BREAKDOWNS.get(vital)
    if parts is None:
        return None
    p75s = [(part, quantile(0.75, PART_BUCKETS, counts.get(part_key(vital, part), []))) for part in parts.names]
    known = [(part, value) for part, value in p75s if value is not None]
    if not known:
        return None
    total = sum(value for _, value in known)
    dominant = max(known, key=lambda item: item[1])[0]
    return {
        "unit": "ms",
        "percentile": 75,
        "samples": int(min(counts[part_key(vital, part)][-1] for part, _ in known)),
        "counts": covers,
        "parts": [{"name": part, "label": part.replace("_", " "), "p75": round(value * 1000, 1),
                   "share": round(value / total, 4) if total > 0 else None} for part, value in known],
        "dominant": dominant,
    }


@dataclass(frozen=True, slots=True)
class PartFix:
    """What addresses one part: the vital whose playbooks do (suggest_fix's argument), the bundled playbook that
    is expected, its action or step for this cause, and why."""

    vital: str
    playbook: str
    action: str
    why: str


PART_FIXES: dict[str, PartFix] = {
    "time_to_first_byte": PartFix(
        "TTFB", "server-response-caching", "edge-caching-and-server-timing",
        "the document's first byte is most of the LCP: serve it from a cache, closer to the user"),
    "resource_load_delay": PartFix(
        "LCP", "optimize-images", "preload-lcp-image",
        "the LCP image starts loading late: preload it (fetchpriority=high) so the browser finds it at once"),
    "resource_load_duration": PartFix(
        "LCP", "optimize-images", "convert-modern-formats",
        "the LCP image takes long to download: make it smaller (WebP/AVIF at the widths shown)"),
    "element_render_delay": PartFix(
        "FCP", "render-blocking-resources", "defer-non-critical",
        "the LCP element is loaded but not painted: CSS and scripts in <head> block rendering"),
    # Every INP phase is main-thread work, which reduce-js-execution addresses (its audit ranks the scripts the
    # beacons name as the longest script of slow interactions, whatever phase they ran in): input delay is
    # other tasks (script evaluation, timers, third-party tags) running when the input arrives; presentation
    # delay is the rendering the handlers caused (big DOM updates, layout thrashing), the playbook's last step.
    "input_delay": PartFix(
        "INP", "reduce-js-execution", "audit-scripts",
        "the page was busy when the user interacted: long tasks from other scripts delay the handlers"),
    "processing_duration": PartFix(
        "INP", "reduce-js-execution", "audit-scripts",
        "the event handlers themselves are slow: split or defer their work"),
    "presentation_delay": PartFix(
        "INP", "reduce-js-execution", "break-up-long-tasks",
        "the frame after the handlers is slow: the DOM work they cause (batch reads before writes, smaller updates)"),
}


def part_fix(vital: str, parts: Mapping[str, Any], suggest: Callable[[str], dict[str, Any] | None],
             diagnosis: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The suggested fix for the dominant part of `parts` (a `breakdown`): the best playbook of the vital that
    addresses it, with `cause` (the part, its share, why, the action) and for INP the longest script the beacons
    blame (`diagnosis`' longestScripts); None when no playbook is configured for it."""
    dominant = parts["dominant"]
    fix = PART_FIXES[dominant]
    found = suggest(fix.vital)
    if found is None:
        return None
    share = next(p["share"] for p in parts["parts"] if p["name"] == dominant)
    cause: dict[str, Any] = {"part": dominant, "share": share, "why": fix.why}
    if found.get("playbookId") == fix.playbook:
        cause["action"] = fix.action
    if vital == "INP":
        scripts = (diagnosis or {}).get("longestScripts") or []
        cause["script"] = scripts[0]["value"] if scripts else None
    return {**found, "cause": cause}


def breakdown_sentence(vital: str, parts: Mapping[str, Any] | None) -> str:
    """The breakdown for people: "Most of it is resource load delay (1.2 s at p75, 55 % of the parts)"."""
    if not parts:
        return ""
    dominant = next(p for p in parts["parts"] if p["name"] == parts["dominant"])
    value = dominant["p75"]
    shown = f"{value / 1000:.2g} s" if value >= 1000 else f"{value:.0f} ms"
    share = "" if dominant["share"] is None else f", {100 * dominant['share']:.0f} % of the parts"
    kind = "subpart" if vital == "LCP" else "phase"
    return f" Its largest {kind} is {dominant['label']} ({shown} at p75{share})."
