"""perfbudget's own HTTP history, minute by minute, in the summary SQLite: ranges of the API's latency, errors
and availability (the monitoring and analytics answers, `perfbudget report`).

Three tables beside the vitals' frames (snapshots.py), in the same file:

- `service_frames`: one row per run (epoch) and minute holding, per endpoint (`<METHOD> <route>`), the
  cumulative counts of `http_server_request_duration_seconds` read from the store (every worker's slab):
  the counts per bucket (not cumulative, +Inf last), the 5xx count and the sum of durations. A window is
  the frame at its end minus the frame at its start, per run (counts never go down within a run), summed
  over the runs. Thinned with age like the vitals' frames (`snapshots.TIERS`, `snapshots.RETENTION` or
  METRICS_RETENTION_DAYS): the first frame of each ten minutes past a day, of each hour past a week, and
  every run's last frame.
- `service_heartbeats`: one row per running server (epoch) and minute, written by whichever of its workers
  comes first. Availability over a range is the share of its minutes that hold a heartbeat of any server;
  a minute without one is a minute no perfbudget was up to answer.
- `service_errors`: the last 5xx per endpoint (time, status, a short error class, never a message), shared
  by every worker.

Reads, for the monitoring and analytics answers and the report: `window(start, end)` (per endpoint: count,
errors, sum_seconds, cumulative buckets, edges), `availability(start, end)` and `last_errors()`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from itertools import accumulate
from operator import add
from pathlib import Path
from typing import Any, Protocol

import orjson

from .http_metrics import HTTP_DURATION, OTEL_BUCKETS, endpoint_name
from .snapshots import RETENTION, TIERS
from .sqlite import prepare

log = logging.getLogger(__name__)

#: endpoint -> [count per bucket (not cumulative, +Inf last)..., errors, sum of seconds]
Frame = dict[str, list[float]]
_THIN_EVERY = 600  # seconds of frame time between two thinning passes
_ERROR_WRITE_EVERY = 1.0  # seconds: a worker writes an endpoint's last error at most this often


class HttpSource(Protocol):
    """Where the live histogram is read: the store's Reader."""

    def rows(self, name: str, match: Mapping[str, str] | None = None) -> dict[tuple[str, ...], list[float]]: ...


def read_frame(reader: HttpSource) -> Frame:
    """Per endpoint, the counts per bucket, the 5xx count and the sum, over every worker's slab."""
    out: Frame = {}
    for (route, method, code), row in reader.rows(HTTP_DURATION).items():
        counts, total = row[:-1], row[-1]
        errors = sum(counts) if code.isdigit() and int(code) >= 500 else 0
        name = endpoint_name(method, route)
        value = [*counts, errors, total]
        acc = out.get(name)
        out[name] = value if acc is None else list(map(add, acc, value))
    return out


def _encode(edges: tuple[float, ...], frame: Frame) -> bytes:
    return zlib.compress(orjson.dumps({"edges": edges, "endpoints": frame}), 6)


def _decode(blob: bytes) -> tuple[tuple[float, ...], Frame]:
    data = orjson.loads(zlib.decompress(blob))
    return tuple(data["edges"]), data["endpoints"]


class ServiceHistory:
    """The history in `path`. With a `reader` and an `epoch` it records (one per worker, `start()`); without,
    it only reads (the report command)."""

    def __init__(self, path: Path, *, reader: HttpSource | None = None, epoch: str | None = None,
                 interval: float = 60.0, retention: int = RETENTION, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.epoch = epoch
        self.interval = interval
        self.retention = retention
        self._reader = reader
        self._clock = clock
        self._edges = OTEL_BUCKETS
        self._thinned = 0
        self._errors_written: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        prepare(path, (
            "CREATE TABLE IF NOT EXISTS service_frames (epoch TEXT NOT NULL, ts INTEGER NOT NULL, "
            "frame BLOB NOT NULL, PRIMARY KEY (epoch, ts))",
            "CREATE INDEX IF NOT EXISTS service_frames_ts ON service_frames (ts)",
            "CREATE TABLE IF NOT EXISTS service_heartbeats (ts INTEGER NOT NULL, epoch TEXT NOT NULL, "
            "PRIMARY KEY (ts, epoch))",
            "CREATE TABLE IF NOT EXISTS service_errors (endpoint TEXT PRIMARY KEY, ts REAL NOT NULL, "
            "status INTEGER NOT NULL, error TEXT NOT NULL)",
        ))

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    # --- writes ---------------------------------------------------------------------------------

    def record(self, now: float | None = None, final: bool = False) -> None:
        """This minute's heartbeat and frame, once per run and minute whichever worker comes first (`final`:
        the frame replaced by the counts as they are now, at a worker's exit)."""
        if self._reader is None or self.epoch is None:
            raise RuntimeError("a ServiceHistory without a reader and an epoch only reads")
        now = self._clock() if now is None else now
        ts = int(now // self.interval * self.interval)
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO service_heartbeats VALUES (?, ?)", (ts, self.epoch))
            if not final and db.execute("SELECT 1 FROM service_frames WHERE epoch = ? AND ts = ?",
                                        (self.epoch, ts)).fetchone():
                return
        blob = _encode(self._edges, read_frame(self._reader))
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                verb = "INSERT OR REPLACE" if final else "INSERT OR IGNORE"
                db.execute(f"{verb} INTO service_frames VALUES (?, ?, ?)", (self.epoch, ts, blob))
                if ts - self._thinned >= _THIN_EVERY:
                    self._thin(db, ts)
                    self._thinned = ts
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def record_error(self, endpoint: str, status: int, error: str) -> None:
        """Keep `endpoint`'s last 5xx for every worker (called on the request's thread: cheap, never raises)."""
        now = self._clock()
        with self._lock:
            if now - self._errors_written.get(endpoint, -_ERROR_WRITE_EVERY) < _ERROR_WRITE_EVERY:
                return
            self._errors_written[endpoint] = now
        try:
            with self._connect() as db:
                db.execute("INSERT OR REPLACE INTO service_errors VALUES (?, ?, ?, ?)",
                           (endpoint, now, status, error[:80]))
        except sqlite3.Error as exc:
            log.warning("could not record the last error of %s in %s: %s", endpoint, self.path, exc)

    def thin(self, now: float) -> None:
        """Thin the frames older than a day and drop what is past the retention (see the module docstring)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            self._thin(db, int(now))
            db.execute("COMMIT")

    def _thin(self, db: sqlite3.Connection, now: int) -> None:
        db.execute("DELETE FROM service_frames WHERE ts < ?", (now - self.retention,))
        db.execute("DELETE FROM service_heartbeats WHERE ts < ?", (now - self.retention,))
        old = db.execute("SELECT epoch, ts FROM service_frames WHERE ts < ?", (now - TIERS[0][0],)).fetchall()
        if not old:
            return
        last = dict(db.execute("SELECT epoch, MAX(ts) FROM service_frames GROUP BY epoch").fetchall())
        first: dict[tuple[str, int], int] = {}
        for epoch, ts in old:
            step = next(every for age, every in reversed(TIERS) if ts < now - age)
            bucket = (epoch, ts - ts % step)
            if bucket not in first or ts < first[bucket]:
                first[bucket] = ts
        keep = {(epoch, ts) for (epoch, _), ts in first.items()} | set(last.items())
        db.executemany("DELETE FROM service_frames WHERE epoch = ? AND ts = ?",
                       [row for row in old if tuple(row) not in keep])

    # --- reads ----------------------------------------------------------------------------------

    def _frames_at(self, db: sqlite3.Connection, t: float) -> dict[str, tuple[tuple[float, ...], Frame]]:
        """Per run: its last frame at or before `t`."""
        rows = db.execute(
            "SELECT f.epoch, f.frame FROM service_frames f JOIN (SELECT epoch, MAX(ts) AS ts FROM service_frames "
            "WHERE ts <= ? GROUP BY epoch) m ON f.epoch = m.epoch AND f.ts = m.ts", (int(t),)).fetchall()
        return {epoch: _decode(blob) for epoch, blob in rows}

    def window(self, start: float, end: float) -> dict[str, dict[str, Any]]:
        """Per endpoint, the requests that completed in [start, end]: count, errors (5xx), sum_seconds,
        buckets (cumulative, +Inf last) and edges. An `end` within the last minute or later reads this run's
        live counts (frames are a minute apart)."""
        with self._connect() as db:
            ends = self._frames_at(db, end)
            starts = self._frames_at(db, start)
        if self._reader is not None and self.epoch is not None and end + self.interval > self._clock():
            # An end in the minute under way (or later): this run's counts as they are now.
            ends[self.epoch] = (self._edges, read_frame(self._reader))
        totals: Frame = {}
        for epoch, (edges, frame) in ends.items():
            if edges != self._edges:
                continue  # another perfbudget's buckets: they do not add up with ours
            base = starts.get(epoch, ((), {}))[1]
            for name, value in frame.items():
                old = base.get(name)
                if old is not None and len(old) == len(value):
                    value = [max(0.0, v - o) for v, o in zip(value, old, strict=True)]
                acc = totals.get(name)
                totals[name] = value if acc is None else list(map(add, acc, value))
        out: dict[str, dict[str, Any]] = {}
        for name, value in sorted(totals.items()):
            counts, errors, seconds = value[:-2], value[-2], value[-1]
            buckets = [int(c) for c in accumulate(counts)]
            if buckets and buckets[-1] > 0:
                out[name] = {"count": buckets[-1], "errors": int(errors), "sum_seconds": float(seconds),
                             "buckets": buckets, "edges": list(self._edges)}
        return out

    def availability(self, start: float, end: float) -> dict[str, Any]:
        """The share of the minutes of [start, end] that hold a heartbeat, measured from the first heartbeat
        ever recorded (a fresh install is not down for the time before it existed)."""
        step = int(self.interval)
        with self._connect() as db:
            first = db.execute("SELECT MIN(ts) FROM service_heartbeats").fetchone()[0]
            if first is None:
                return {"percent": None, "answered": 0, "intervals": 0, "interval_seconds": step, "since": None}
            since = max(float(first), start)
            lo, hi = int(since // step * step), int(end // step * step)
            answered = {ts for (ts,) in db.execute(
                "SELECT DISTINCT ts FROM service_heartbeats WHERE ts >= ? AND ts <= ?", (lo, hi))}
        intervals = max(0, (hi - lo) // step + 1)
        if intervals and hi not in answered and hi + step > self._clock():
            intervals -= 1  # the minute under way, before its heartbeat: not missed yet
        count = len(answered)
        percent = round(100.0 * count / intervals, 4) if intervals else None
        return {"percent": percent, "answered": count, "intervals": intervals, "interval_seconds": step,
                "since": since}

    def last_errors(self) -> dict[str, dict[str, Any]]:
        """Per endpoint, its last 5xx: time (ISO-8601 UTC), timestamp, statusCode and error (a class name)."""
        with self._connect() as db:
            rows = db.execute("SELECT endpoint, ts, status, error FROM service_errors").fetchall()
        return {endpoint: {"time": datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z"),
                           "timestamp": ts, "statusCode": status, "error": error}
                for endpoint, ts, status, error in rows}

    # --- the recording thread -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="perfbudget-service-history", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.record()
            except sqlite3.Error as exc:  # a locked or full database skips one minute, which then shows as down
                log.warning("service history %s: %s", self.path, exc)
            # Just after the next minute starts, so every minute gets its heartbeat.
            wait = self.interval - self._clock() % self.interval + 0.5
            if self._stop.wait(wait):
                return

    def close(self) -> None:
        self._stop.set()
        if self._reader is None or self.epoch is None:
            return
        try:
            self.record(final=True)
        except sqlite3.Error:
            pass
