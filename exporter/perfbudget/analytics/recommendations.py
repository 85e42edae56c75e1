"""Recommendations from the data alone: each budget breached over the range, what the beacons blame for it,
and the playbook that addresses it with what its latest dry run previewed.

Priority, derived so that the most urgent and cheapest fix comes first:
    points = breach (2 for a critical budget, 1 otherwise) + 1 when the p75 is also poor by Google's rating
             + the playbook's impact (high 2, medium 1, low 0) - its effort (high 2, medium 1, low 0)
    high at 3 points or more, medium at 1 or 2, low under 1.
A breach no playbook addresses is still recommended (impact and effort null: nothing to weigh).
Of several playbooks for one vital the one with the most points wins, then the larger previewed saving;
the others are named in `otherPlaybooks`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..playbooks.model import LoadedPlaybook, Playbooks
from ..summary_contract import BLAMED, display
from ..vitals import Vital
from .previews import Preview

Priority = Literal["high", "medium", "low"]
LEVEL_POINTS = {"low": 0, "medium": 1, "high": 2}
#: The most recommendations an answer carries (highest priority first).
MAX_RECOMMENDATIONS = 20


@dataclass(frozen=True)
class Breach:
    """A budget over its target over the range: a vital on a route, or a service budget."""

    metric: str  # the playbooks' metric name: LCP, INP, ..., api_latency, error_rate
    route: str | None
    value: str  # as people read it: "3,400 ms"
    target: str  # "2,500 ms"
    budget: str  # the budget's name
    severity: str
    poor: bool  # also poor by Google's rating (vitals) or past the guide's critical level (service)
    samples: int
    blamed: tuple[tuple[str, str, int, int], ...] = ()  # (what, value, count, total) per attribution kind


@dataclass(frozen=True)
class Recommendation:
    breach: Breach
    playbook: LoadedPlaybook | None
    preview: Preview | None
    others: tuple[str, ...] = field(default=())

    @property
    def points(self) -> int:
        b = self.breach
        points = (2 if b.severity == "critical" else 1) + (1 if b.poor else 0)
        if self.playbook is not None:
            points += LEVEL_POINTS[self.playbook.spec.impact] - LEVEL_POINTS[self.playbook.spec.effort]
        return points

    @property
    def priority(self) -> Priority:
        return "high" if self.points >= 3 else "medium" if self.points >= 1 else "low"

    def to_json(self) -> dict[str, Any]:
        b, book = self.breach, self.playbook
        where = b.route or "all routes"
        title = f"{b.metric} over budget on {where}"
        sentences = [f"{b.metric} was {b.value} on {where} over the range ({b.samples:,} samples), over the "
                     f"{b.budget} budget of {b.target} ({b.severity})."]
        if b.blamed:
            sentences.append("The beacons blame " + " and ".join(
                f"{what} {value} ({count:,} of {total:,} reports)" for what, value, count, total in b.blamed) + ".")
        if book is None:
            sentences.append(f"No playbook addresses {b.metric}.")
        else:
            title = f"{book.spec.name}: {title}"
            sentences.append(f"Playbook {book.id} ({book.spec.name}) addresses it: {book.spec.expected_improvement}.")
            if self.preview is None:
                sentences.append("No dry run of it in the audit log yet: POST /api/perf-fix "
                                 f'{{"playbookId": "{book.id}", "dryRun": true}} previews what it would save.')
            elif self.preview.bytes_saved is not None:
                sentences.append(f"Its latest dry run ({self.preview.run_id}) previewed "
                                 f"{_bytes(self.preview.bytes_saved)} saved.")
            else:
                sentences.append(f"Its latest dry run ({self.preview.run_id}) previewed no byte saving.")
        return {
            "type": "optimization",
            "title": title,
            "description": " ".join(sentences),
            "impact": book.spec.impact if book is not None else None,
            "effort": book.spec.effort if book is not None else None,
            "priority": self.priority,
            "points": self.points,
            "metric": b.metric,
            "route": b.route,
            "budget": {"name": b.budget, "target": b.target, "severity": b.severity, "value": b.value},
            "blamed": [{"what": w, "value": v, "count": c, "of": t} for w, v, c, t in b.blamed],
            "playbookId": book.id if book is not None else None,
            "expectedImprovement": book.spec.expected_improvement if book is not None else None,
            "previewedSavings": self.preview.to_json() if self.preview is not None else None,
            "otherPlaybooks": list(self.others),
        }


def _bytes(value: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} bytes"


def shown(vital: Vital, value: float) -> str:
    """A base-unit value as people read it: '3,400 ms', '0.12'."""
    number = display(vital, value)
    assert number is not None
    return f"{number:,.0f} ms" if vital.ms else f"{number:g}"


def blamed(diagnosis: dict[str, list[dict[str, Any]]]) -> tuple[tuple[str, str, int, int], ...]:
    """The top entry of each attribution kind of a summary-style diagnosis, with the kind's total."""
    out = []
    for key, entries in diagnosis.items():
        if entries:
            total = sum(int(e["count"]) for e in entries)
            out.append((BLAMED.get(key, key), str(entries[0]["value"]), int(entries[0]["count"]), total))
    return tuple(out)


def recommend(breaches: Sequence[Breach], playbooks: Playbooks,
              preview: Callable[[str], Preview | None]) -> list[Recommendation]:
    """One recommendation per breach, highest priority first (then the most samples), at most
    MAX_RECOMMENDATIONS."""
    previews: dict[str, Preview | None] = {}

    def cached(playbook: str) -> Preview | None:
        if playbook not in previews:
            previews[playbook] = preview(playbook)
        return previews[playbook]

    out = []
    for breach in breaches:
        candidates = [Recommendation(breach, book, cached(book.id))
                      for book in playbooks.values() if breach.metric in book.spec.metric]
        if not candidates:
            out.append(Recommendation(breach, None, None))
            continue
        best = max(candidates, key=lambda r: (r.points, (r.preview.bytes_saved or 0) if r.preview else -1))
        others = tuple(r.playbook.id for r in candidates if r is not best and r.playbook is not None)
        out.append(Recommendation(breach, best.playbook, best.preview, others))
    out.sort(key=lambda r: (-r.points, -r.breach.samples))
    return out[:MAX_RECOMMENDATIONS]
