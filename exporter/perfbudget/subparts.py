"""Why a page view was slow: LCP's subparts and INP's phases, as web-vitals' attribution build reports them.

web-vitals splits an LCP into `timeToFirstByte` (navigation start to the document's first byte),
`resourceLoadDelay` (first byte to when the LCP resource starts loading), `resourceLoadDuration` (its
download) and `elementRenderDelay` (loaded to painted), and an INP into `inputDelay` (input to the first
handler), `processingDuration` (the handlers) and `presentationDelay` (handlers done to the next frame).
beacon.js sends them in milliseconds in each report's `attribution`; the hot path (ingest.py) records them in
`perfbudget_lcp_subpart_seconds{subpart}` and `perfbudget_inp_phase_seconds{phase}` (metrics.breakdown_specs)
on the report whose vital it records, after `split` has checked them: each one a finite number >= 0 and at
most the vital's sane bound, and together about the vital's value (they add up to it by construction,
rounding and the 8 ms grain of INP's duration aside). A breakdown that fails is not recorded, the vital still
is, and `perfbudget_subparts_dropped_total{vital, reason}` counts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from .vitals import VITALS

LCP_SUBPARTS = "perfbudget_lcp_subpart_seconds"
INP_PHASES = "perfbudget_inp_phase_seconds"
SUBPARTS_DROPPED = "perfbudget_subparts_dropped_total"

#: Why a report's breakdown was not recorded: `missing` (some of its parts are absent), `not_a_number` (a part
#: is not a number: a string, a boolean, null), `out_of_range` (a part is negative or over the vital's sane
#: bound), `inconsistent` (the parts do not add up to the vital's value, within TOLERANCE_*).
DropReason = Literal["missing", "not_a_number", "out_of_range", "inconsistent"]
DROP_REASONS: tuple[DropReason, ...] = get_args(DropReason)

#: The parts may add up to the value give or take 5 % and 50 ms: web-vitals rounds nothing in LCP's subparts,
#: but INP's value is the event's duration (8 ms grain) while its phases come from timestamps, and a
#: hand-made beacon may round each part.
TOLERANCE_RATIO = 0.05
TOLERANCE_SECONDS = 0.05

#: One edge ladder for every part of both families, in seconds: 18 log-spaced edges from 5 ms to 20 s (a ratio
#: of about 1.63). A part under 5 ms matters to no budget (LCP's good is 2.5 s, INP's 200 ms) and 20 s is where
#: LCP's own ladder ends (22.4 s), so every part of a sane report lands in a finite bucket. The breakdown is for
#: ranking the parts (which one dominates is usually clear by a factor of two or more), not for a budget: a
#: bucket ratio of 1.63 reads a p75 to within about a quarter of its value, and keeps a slot at 21 words
#: (168 bytes), where a vital's 30-odd edges take 264.
PART_BUCKETS: tuple[float, ...] = tuple(float(f"{0.005 * 4000 ** (i / 17):.3g}") for i in range(18))


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One vital's parts: the histogram they go to, its part label, and (label value, attribution key) each."""

    vital: str
    metric: str
    label: str
    parts: tuple[tuple[str, str], ...]
    bound: float  # the vital's sane bound, in seconds: no part may be over it

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.parts)


BREAKDOWNS: dict[str, Breakdown] = {
    "LCP": Breakdown("LCP", LCP_SUBPARTS, "subpart", (
        ("time_to_first_byte", "timeToFirstByte"), ("resource_load_delay", "resourceLoadDelay"),
        ("resource_load_duration", "resourceLoadDuration"), ("element_render_delay", "elementRenderDelay")),
        VITALS["LCP"].max_beacon_value / 1000.0),
    "INP": Breakdown("INP", INP_PHASES, "phase", (
        ("input_delay", "inputDelay"), ("processing_duration", "processingDuration"),
        ("presentation_delay", "presentationDelay")),
        VITALS["INP"].max_beacon_value / 1000.0),
}


def split(breakdown: Breakdown, attribution: dict[str, Any], value: float) -> tuple[float, ...] | DropReason | None:
    """The parts of one report in seconds, in `breakdown.parts` order; the reason they are refused; or None
    when the attribution carries none of them (nothing to record, nothing dropped). `value`: the vital's
    value in seconds."""
    get = attribution.get
    out = []
    absent = 0
    for _, key in breakdown.parts:
        part: Any = get(key)
        kind = type(part)
        if kind is int or kind is float:  # bool is an int subclass: refused by comparing types exactly
            out.append(part / 1000.0)
        elif part is None:
            absent += 1
        else:
            return "not_a_number"
    if absent:
        return None if absent == len(breakdown.parts) else "missing"
    total = 0.0
    bound = breakdown.bound
    for part in out:
        if not 0 <= part <= bound:  # NaN fails too (orjson and msgspec yield none, a caller might)
            return "out_of_range"
        total += part
    if abs(total - value) > value * TOLERANCE_RATIO + TOLERANCE_SECONDS:
        return "inconsistent"
    return tuple(out)
