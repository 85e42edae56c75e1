"""The minute frames a worker could not write to the shared database, kept until it answers again.

With `database.url` the summary's frames go to PostgreSQL, once a minute per replica (the snapshot
thread, never a beacon). When the database does not answer, the frame is kept here, compressed (a few
kilobytes to a few hundred with hundreds of routes), up to MAX_FRAMES minutes (an hour; the oldest goes
first beyond that, and with it only that minute's resolution: the frames are cumulative, so a later one
still holds every report), and each later minute first writes what is kept, oldest first. The outage is
logged once (db_outage). The slabs keep counting meanwhile: nothing a beacon brought waits or is lost.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from .db import TRANSIENT_ERRORS
from .db_outage import Outage
from .snapshot_frames import Rows, decode, encode

MAX_FRAMES = 60

Store = Callable[[str, int, Rows, bool], bool]


class FrameBacklog:
    """Frames waiting for the database: (epoch, minute) -> (compressed rows, replace)."""

    def __init__(self, location: str, max_frames: int = MAX_FRAMES) -> None:
        self.max_frames = max_frames
        self.outage = Outage("summary snapshots", location,
                             f"this replica's minute frames are kept in memory (up to {max_frames} minutes)")
        self._pending: OrderedDict[tuple[str, int], tuple[bytes, bool]] = OrderedDict()
        #: Frames dropped because the backlog was full (their minutes are coarser, no report lost).
        self.dropped = 0
        self._lock = threading.Lock()  # the snapshot thread, and the final snapshot as the worker stops

    def __len__(self) -> int:
        return len(self._pending)

    def pending(self, epoch: str, ts: int) -> bool:
        return (epoch, ts) in self._pending

    def has(self, epoch: str, ts: int, check: Callable[[str, int], bool]) -> bool:
        """Whether the minute is stored or kept; a database that does not answer counts as not stored."""
        if self.pending(epoch, ts):
            return True
        try:
            return check(epoch, ts)
        except TRANSIENT_ERRORS as exc:
            self.outage.failed(exc)
            return False

    def save(self, epoch: str, ts: int, rows: Rows, replace: bool, store: Store) -> bool:
        """Write what is kept, then this frame; keep this one (and what is still kept) when the database does
        not answer. Whether this frame was stored now (False: another worker had it, or it is kept)."""
        with self._lock:
            if not self._drain(store):
                self._keep(epoch, ts, rows, replace)
                return False
            try:
                stored = store(epoch, ts, rows, replace)
            except TRANSIENT_ERRORS as exc:
                self.outage.failed(exc)
                self._keep(epoch, ts, rows, replace)
                return False
            self.outage.recovered()
            return stored

    def _drain(self, store: Store) -> bool:
        while self._pending:
            (epoch, ts), (blob, replace) = next(iter(self._pending.items()))
            try:
                store(epoch, ts, decode(blob), replace)
            except TRANSIENT_ERRORS as exc:
                self.outage.failed(exc)
                return False
            del self._pending[(epoch, ts)]
        return True

    def _keep(self, epoch: str, ts: int, rows: Rows, replace: bool) -> None:
        key = (epoch, ts)
        known = self._pending.pop(key, None)
        self._pending[key] = (encode(rows), replace or (known is not None and known[1]))
        while len(self._pending) > self.max_frames:
            self._pending.popitem(last=False)
            self.dropped += 1
