"""`metric_collected` events: once a minute, per route and vital, the reports that arrived since the
previous snapshot (count, p75, good share), from the snapshot frames the summary already stores.

The one worker that stores a minute's frame (the first to reach it, `SnapshotStore.save`) writes that
minute's lines: one set of lines for the whole server, exact over every worker's slabs, and nothing on the
beacon path. Its reports are its frame minus the run's previous frame (the previous minute's, whoever
stored it), so the lines of consecutive minutes add up to the histograms.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from itertools import accumulate

from . import eventlog
from .snapshots import Rows, SnapshotStore
from .summary import quantile
from .summary_contract import display
from .vitals import VITALS

log = logging.getLogger(__name__)


class MinuteLog:
    """The metric_collected lines of one server run (`epoch`), given each minute's frame as it is stored."""

    def __init__(self, store: SnapshotStore, edges: Mapping[str, tuple[float, ...]], epoch: str) -> None:
        self._store = store
        self._edges = edges
        self._epoch = epoch

    def collected(self, ts: int, rows: Rows) -> None:
        """The lines for the frame just stored at `ts` (Unix seconds, the minute's start). Never raises: a
        failure costs this minute's lines, never the snapshot."""
        if not eventlog.enabled():
            return
        try:
            self._write(ts, rows)
        except Exception:  # telemetry never breaks the snapshots
            log.exception("metric_collected lines for the minute at %d", ts)

    def _write(self, ts: int, rows: Rows) -> None:
        head = self._store.heads(ts - 1).get(self._epoch)
        before = self._store.frame(head) if head is not None else None
        interval = ts - head.ts if head is not None else None
        for name, by_route in rows.items():
            vital, edges = VITALS.get(name), self._edges.get(name)
            if vital is None or edges is None:
                continue  # a vital per device ("LCP@phone", for device budgets): its route lines say it all
            for route, counts in by_route.items():
                earlier = before.counts(name, route) if before is not None else None
                if earlier is not None and len(earlier) == len(counts):
                    counts = [now - then for now, then in zip(counts, earlier, strict=True)]
                cumulative = list(map(float, accumulate(counts)))
                count = int(cumulative[-1]) if cumulative else 0
                if count <= 0:
                    continue
                good = edges.index(vital.good) if vital.good in edges else None
                eventlog.metric_collected(
                    epoch=self._epoch, minute=ts, interval_seconds=interval, route=route, vital=name, count=count,
                    p75=display(vital, quantile(0.75, edges, cumulative)), unit=vital.display_unit,
                    good_share=round(cumulative[good] / count, 4) if good is not None else None)
