"""`metric_collected` events: once a minute, per route and vital, the reports that arrived since the
previous snapshot (count, p75, good share), from the snapshot frames the summary already stores.

`LoggedSnapshotStore` is the summary's store that also logs: the one worker that stores a minute's frame
(the first to reach it) writes that minute's lines, so there is one set of lines for the whole server,
exact over every worker's slabs, and nothing on the beacon path. A frame's lines are the frame minus the
run's frame before it, whoever stored that one; a worker's last snapshot as it stops replaces its minute's
frame, and its lines (`final`) are what came after the frame it replaces. Storing and logging one frame
happen under a lock every worker takes (a lock file beside the database), so no report is counted in two
lines and the lines of a run add up to its histograms.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import accumulate
from pathlib import Path

from . import eventlog
from .db import Database
from .snapshots import RETENTION, Frame, Rows, SnapshotStore
from .summary import quantile
from .summary_contract import display
from .vitals import VITALS

log = logging.getLogger(__name__)


class LoggedSnapshotStore(SnapshotStore):
    """A SnapshotStore whose stored frames become metric_collected lines (bucket `edges` per vital)."""

    def __init__(self, path: Path, edges: Mapping[str, tuple[float, ...]], retention: int = RETENTION,
                 database: Database | None = None) -> None:
        super().__init__(path, retention, database)
        self._edges = edges
        self._lock_path = path.with_name(path.name + ".eventlog-lock")
        self._minute_lock = threading.Lock()  # flock does not exclude threads sharing one open file

    def save(self, epoch: str, ts: int, rows: Rows, replace: bool = False) -> bool:
        if not eventlog.enabled():
            return super().save(epoch, ts, rows, replace)
        with self._exclusive():
            before = self._before(epoch, ts)
            stored = super().save(epoch, ts, rows, replace)
            if stored:
                self._collected(epoch, ts, rows, before)
        return stored

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._minute_lock, self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield

    def _before(self, epoch: str, ts: int) -> tuple[int, Frame] | None:
        """The run's frame at `ts` (the one a replacement replaces) or else the last one before it."""
        try:
            head = self.last_head(epoch, ts)
            return (head.ts, self.frame(head)) if head is not None else None
        except Exception:  # telemetry never breaks the snapshots
            log.exception("metric_collected: the frame before the minute at %d", ts)
            return None

    def _collected(self, epoch: str, ts: int, rows: Rows, before: tuple[int, Frame] | None) -> None:
        try:
            self._write(epoch, ts, rows, before)
        except Exception:  # telemetry never breaks the snapshots: this minute's lines are lost, not the frame
            log.exception("metric_collected lines for the minute at %d", ts)

    def _write(self, epoch: str, ts: int, rows: Rows, before: tuple[int, Frame] | None) -> None:
        since, earlier_frame = before if before is not None else (None, None)
        for name, by_route in rows.items():
            vital, edges = VITALS.get(name), self._edges.get(name)
            if vital is None or edges is None:
                continue  # a vital per device ("LCP@phone", for device budgets): its route lines say it all
            good = edges.index(vital.good) if vital.good in edges else None
            for route, counts in by_route.items():
                earlier = earlier_frame.counts(name, route) if earlier_frame is not None else None
                if earlier is not None and len(earlier) == len(counts):
                    counts = [now - then for now, then in zip(counts, earlier, strict=True)]
                cumulative = list(map(float, accumulate(counts)))
                count = int(cumulative[-1]) if cumulative else 0
                if count <= 0:
                    continue
                eventlog.metric_collected(
                    epoch=epoch, minute=ts, interval_seconds=ts - since if since is not None else None,
                    final=since == ts, route=route, vital=name, count=count,
                    p75=display(vital, quantile(0.75, edges, cumulative)), unit=vital.display_unit,
                    good_share=round(cumulative[good] / count, 4) if good is not None else None)
