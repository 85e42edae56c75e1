"""What `POST /api/perf-fix` promises: how long a run takes (`estimatedCompletionTime`) and what it should
gain (`expectedImprovement`), each from data where there is some and said so (README, "Playbooks").

How long: the median duration (started to finished) of this playbook's last `PAST_RUNS` succeeded runs of
the same mode in the audit log; with none yet, the sum over its actions of a rough per-kind figure
(`KIND_SECONDS`: a preview, or an apply for the actions an execute applies).

What it gains, for an image playbook: the previewed byte reduction removes that share of the LCP image's
download, so LCP falls by (p75 resource load duration) x (bytes saved / bytes before) from the route's p75
LCP. The resource load duration is an LCP subpart the beacons send but the exporter does not record yet;
until it is recorded every answer gives the playbook's own prose: never a number without data behind it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..config.playbooks import Risk
from .model import LoadedPlaybook
from .records import EXECUTE, SUCCEEDED, Mode, Run
from .store import Store

#: The past runs the median takes (newest first).
PAST_RUNS = 20
#: Rough seconds per action of each kind: (a preview, an apply). Previews of images encode a sample in
#: memory; applies encode every image; manual actions only list their steps.
KIND_SECONDS: dict[str, tuple[float, float]] = {
    "images": (20.0, 120.0),
    "preload": (2.0, 5.0),
    "image-dimensions": (5.0, 20.0),
    "cache-headers": (2.0, 5.0),
    "js-audit": (10.0, 10.0),
    "grafana-annotation": (1.0, 2.0),
    "webhook": (1.0, 2.0),
    "command": (10.0, 60.0),
    "manual": (0.1, 0.1),
}
#: Any other kind (a plugin's).
DEFAULT_SECONDS = (5.0, 30.0)
#: Playbook categories whose vital the image model applies to.
IMAGE_CATEGORIES = ("images",)


@dataclass(frozen=True)
class Estimate:
    """How long a run takes, and from what: the median of `runs` past runs, or the per-kind table."""

    seconds: float
    basis: str
    runs: int

    def to_json(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 1), "basis": self.basis, "pastRuns": self.runs}


def past_durations(store: Store, playbook: str, mode: Mode, *, exclude: str | None = None,
                   limit: int = PAST_RUNS) -> list[float]:
    """Seconds from start to finish of the playbook's newest succeeded runs of `mode`."""
    durations: list[float] = []
    for run in store.recent(limit=5 * limit, playbook=playbook, state=SUCCEEDED):
        if run.mode != mode or run.id == exclude or run.started_at is None or run.finished_at is None:
            continue
        durations.append(max(0.0, run.finished_at - run.started_at))
        if len(durations) == limit:
            break
    return durations


def kind_seconds(book: LoadedPlaybook, mode: Mode, max_risk: Risk) -> float:
    """The per-kind figure summed over the playbook's actions (applies for those an execute applies)."""
    total = 0.0
    for action in book.spec.actions:
        preview, apply = KIND_SECONDS.get(action.kind, DEFAULT_SECONDS)
        total += apply if mode == EXECUTE and action.allowed_at(max_risk) else preview
    return total


def estimate(store: Store, book: LoadedPlaybook, mode: Mode, max_risk: Risk, *,
             exclude: str | None = None) -> Estimate:
    past = past_durations(store, book.id, mode, exclude=exclude)
    if past:
        noun = "run" if len(past) == 1 else "runs"
        return Estimate(statistics.median(past), f"median of the last {len(past)} succeeded {mode} {noun}",
                        len(past))
    count = len(book.spec.actions)
    return Estimate(kind_seconds(book, mode, max_risk),
                    f"no past {mode} run: rough figures per action kind, {count} action(s)", 0)


def duration_text(seconds: float) -> str:
    """`~15 minutes`, `~40 seconds`, `~2 hours`: the seed's form, one unit, rounded."""
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        value, unit = round(seconds), "second"
    elif seconds < 90 * 60:
        value, unit = round(seconds / 60), "minute"
    else:
        value, unit = round(seconds / 3600), "hour"
    return f"~{value} {unit}{'' if value == 1 else 's'}"


def completion_text(run: Run, guess: Estimate, now: float | None = None) -> str:
    """`estimatedCompletionTime`: what is left of the estimate, or how long a finished run took."""
    if run.finished_at is not None:
        took = run.finished_at - (run.started_at or run.created_at)
        return f"finished in {duration_text(took).removeprefix('~')}"
    elapsed = 0.0 if run.started_at is None else (time.time() if now is None else now) - run.started_at
    left = guess.seconds - elapsed
    if left <= 0:
        return f"any time now (over its estimate of {duration_text(guess.seconds)})"
    return duration_text(left)


def change_text(metric: str, before: float, after: float, unit: str) -> str:
    """The seed's `LCP: -1200ms (3200ms → 2000ms)`; a score (CLS) with two decimals and no unit."""
    if unit == "ms":
        return f"{metric}: {after - before:+.0f}ms ({before:.0f}ms → {after:.0f}ms)"
    return f"{metric}: {after - before:+.2f} ({before:.2f} → {after:.2f})"


def image_improvement(metric: str, p75: float, resource_load: float, bytes_before: int,
                      bytes_after: int) -> str | None:
    """The image model: LCP falls by the resource load duration times the share of bytes saved.

    `p75` and `resource_load` are milliseconds (the route's p75 LCP and p75 LCP resource load duration);
    None when a figure cannot stand (no bytes, a load longer than the LCP itself, nothing saved)."""
    if bytes_before <= 0 or not 0 <= bytes_after <= bytes_before or not 0 < resource_load <= p75:
        return None
    gain = resource_load * (bytes_before - bytes_after) / bytes_before
    if gain < 1:
        return None
    return change_text(metric, p75, p75 - gain, "ms")


def expected_improvement(book: LoadedPlaybook, *, p75: float | None = None, resource_load: float | None = None,
                         byte_totals: Sequence[int] | None = None) -> str:
    """`expectedImprovement`: the image model when every figure it needs is measured, else the prose.

    `byte_totals` is (bytes before, bytes after) of the run's image previews; `resource_load` the p75 LCP
    resource load duration, which nothing records yet (LCP subparts), so today this is the prose."""
    metric = book.spec.metric[0] if book.spec.metric else None
    if (metric == "LCP" and book.spec.category in IMAGE_CATEGORIES and p75 is not None
            and resource_load is not None and byte_totals is not None and len(byte_totals) == 2):
        figure = image_improvement(metric, p75, resource_load, byte_totals[0], byte_totals[1])
        if figure is not None:
            return figure
    return book.spec.expected_improvement

