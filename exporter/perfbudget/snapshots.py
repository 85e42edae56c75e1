"""Snapshots of the cumulative histograms in SQLite, shared by every worker of every run, thinned with age.

One row ("frame") per run (epoch) and minute holds every (vital, route) of that minute, compressed in one
blob: the counts per bucket (not cumulative, +Inf last) summed over devices and extra labels, which is all
the summary and the verifier ask for, and beside it their sum over every route (what a summary of all
routes reads, without decoding any route). The vitals a device budget names are also kept per device, under
keys like "LCP@phone" beside "LCP" (summary.device_key), for the per-device budget verdicts in the same
windows: at most about 1.6x the bytes with the bundled budgets (LCP), where every vital per device would
cost about 4x (benchmarks/reads.py). The first frame of an epoch in each hour is a keyframe (the counts
themselves); the others hold only their difference from it, so a minute's blob is about what arrived in
the hour, not everything since the run started. A lookup is one indexed query per epoch and at most two
blobs decoded; decoded frames are kept in a small LRU.

With age the frames are thinned (`downsample`): one a minute for the last day, one per ten minutes for the
last week, one an hour beyond, up to RETENTION. What is kept is the first frame of each ten minutes or
hour (so every keyframe stays, and with it every delta kept) and every epoch's last frame (its end). A
window that starts in the thinned past starts at the kept frame before it: up to ten minutes (a day to a
week ago) or an hour (older) early, never late.
"""

from __future__ import annotations

import sqlite3
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import add, sub
from pathlib import Path

import orjson

from .sqlite import prepare

#: vital -> route -> counts per bucket (not cumulative), +Inf last.
Rows = dict[str, dict[str, list[int]]]
MINUTE, DAY, WEEK = 60, 86400, 7 * 86400
RETENTION = 15 * DAY
KEYFRAME_SECONDS = 3600
#: (age beyond which, one frame per this many seconds is kept)
TIERS = ((DAY, 600), (WEEK, 3600))
_DOWNSAMPLE_EVERY = 600  # seconds of snapshot time between two thinning passes
_DECODED = 8  # frames kept decoded per store
_SUMMED = 256  # frames' sums over the routes kept per store


Totals = dict[str, list[int]]  # vital -> counts per bucket over every route
Ladder = dict[str, tuple[float, ...]]  # vital -> a run's bucket edges


def _totals(rows: Rows) -> Totals:
    """Per vital, column sums over every route (in C: one `sum` per bucket, not one list per route)."""
    out: Totals = {}
    for vital, by_route in rows.items():
        values = list(by_route.values())
        if values:
            width = len(values[0])
            out[vital] = [sum(column) for column in zip(*(r for r in values if len(r) == width), strict=True)]
    return out


@dataclass
class Frame:
    """One snapshot: per vital and route, the counts per bucket, and per vital their sum over the routes."""

    rows: Rows
    totals: Totals = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.totals:
            self.totals = _totals(self.rows)

    def counts(self, vital: str, route: str | None) -> list[int] | None:
        """One route's counts of `vital`, or (route None) the sum over every route."""
        if route is None:
            return self.totals.get(vital)
        return self.rows.get(vital, {}).get(route)

    def on(self, route: str | None) -> Totals:
        """Per vital, the counts on `route` (every route when None)."""
        if route is None:
            return self.totals
        return {vital: by_route[route] for vital, by_route in self.rows.items() if route in by_route}


@dataclass(frozen=True, slots=True)
class Head:
    """Which frame a lookup found, before it is decoded."""

    fid: int
    ts: int
    base: int | None  # the keyframe's id for a delta


def _encode(rows: Rows) -> bytes:
    return zlib.compress(orjson.dumps(rows), 6)


def _decode(blob: bytes) -> Rows:
    rows: Rows = orjson.loads(zlib.decompress(blob))
    return rows


def _difference(rows: Rows, base: Rows) -> Rows | None:
    """rows - base per series (only the series that changed), or None when a series cannot be one."""
    out: Rows = {}
    for vital, by_route in rows.items():
        base_routes = base.get(vital, {})
        changed: dict[str, list[int]] = {}
        for route, counts in by_route.items():
            old = base_routes.get(route)
            if old is None:
                changed[route] = counts
                continue
            if len(old) != len(counts):
                return None
            if old != counts:
                delta = list(map(sub, counts, old))
                if min(delta) < 0:
                    return None  # counts never go down within a run: this is not a delta of that keyframe
                changed[route] = delta
        if changed:
            out[vital] = changed
    return out


def _apply(base: Rows, delta: Rows) -> Rows:
    out = {vital: dict(by_route) for vital, by_route in base.items()}
    for vital, by_route in delta.items():
        target = out.setdefault(vital, {})
        for route, counts in by_route.items():
            old = target.get(route)
            target[route] = counts if old is None else list(map(add, old, counts))
    return out


class SnapshotStore:
    """The frames in `path` (SQLite, WAL), for every worker of every run."""

    def __init__(self, path: Path, retention: int = RETENTION) -> None:
        self.path = path
        self.retention = retention  # seconds of frames kept (METRICS_RETENTION_DAYS)
        prepare(path, (
            "CREATE TABLE IF NOT EXISTS epochs (epoch TEXT PRIMARY KEY, started REAL NOT NULL)",
            # One row per epoch and minute; base: the keyframe's id for a delta, NULL for a keyframe.
            # ids are never reused (AUTOINCREMENT), so a decoded frame cached by id is never another's.
            "CREATE TABLE IF NOT EXISTS frames (id INTEGER PRIMARY KEY AUTOINCREMENT, epoch TEXT NOT NULL, "
            "ts INTEGER NOT NULL, base INTEGER, rows BLOB NOT NULL, totals BLOB NOT NULL, UNIQUE (epoch, ts))",
            "CREATE INDEX IF NOT EXISTS frames_ts ON frames (ts)",
            # Each run's bucket edges per vital: counts of runs with other edges never add up with ours.
            "CREATE TABLE IF NOT EXISTS ladders (epoch TEXT PRIMARY KEY, edges BLOB NOT NULL)",
        ))
        self._lock = threading.Lock()
        self._decoded: OrderedDict[int, Frame] = OrderedDict()
        self._summed: OrderedDict[int, Totals] = OrderedDict()
        self._thinned = 0
        self._ladders: dict[str, Ladder | None] = {}  # a run's edges never change (nor their absence): read once

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        # WAL without a sync per commit: a power cut may lose the last minutes' frames, never corrupt the file.
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def drop_legacy(self) -> None:
        """Drop the table of the layout before frames (one row per series and minute: gigabytes). Its history
        is not converted; dropping it takes a while, so the snapshot thread does it, not a worker's start."""
        with self._connect() as db:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'").fetchone():
                db.execute("PRAGMA busy_timeout = 300000")
                db.execute("DROP TABLE snapshots")

    def begin_epoch(self, epoch: str, started: float, edges: Mapping[str, Sequence[float]] | None = None) -> None:
        """Record a run, and with `edges` its bucket edges per vital (see `ladders`)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # both rows at once: a run is never seen without its edges
            db.execute("INSERT OR IGNORE INTO epochs VALUES (?, ?)", (epoch, started))
            if edges is not None:
                db.execute("INSERT OR IGNORE INTO ladders VALUES (?, ?)",
                           (epoch, orjson.dumps({name: list(e) for name, e in edges.items()})))
            db.execute("COMMIT")

    def ladders(self, epochs: Iterable[str]) -> dict[str, Ladder]:
        """Per epoch, the bucket edges per vital its frames were counted in. Runs recorded without them (by
        an older perfbudget) are missing: for those only the number of buckets can be compared."""
        wanted = [e for e in epochs if e not in self._ladders]
        if wanted:
            with self._connect() as db:
                marks = ",".join("?" * len(wanted))
                rows = dict(db.execute(f"SELECT epoch, edges FROM ladders WHERE epoch IN ({marks})", wanted))
            for epoch in wanted:
                found: dict[str, list[float]] | None = orjson.loads(rows[epoch]) if epoch in rows else None
                self._ladders[epoch] = None if found is None else {n: tuple(e) for n, e in found.items()}
        return {e: ladder for e in epochs if (ladder := self._ladders[e]) is not None}

    def check(self) -> None:
        """Raise when the store cannot be read (one indexed row: cheap enough for every /-/ready)."""
        with self._connect() as db:
            db.execute("SELECT ts FROM frames ORDER BY ts DESC LIMIT 1").fetchone()

    def has(self, epoch: str, ts: int) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM frames WHERE epoch = ? AND ts = ?", (epoch, ts)).fetchone() is not None

    def save(self, epoch: str, ts: int, rows: Rows, replace: bool = False) -> bool:
        """Store one minute's frame; the first worker to store a minute wins unless `replace`. Whether it
        stored the frame (False: another worker had)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                exists = db.execute("SELECT id, base FROM frames WHERE epoch = ? AND ts = ?", (epoch, ts)).fetchone()
                if exists is not None and not replace:
                    db.execute("COMMIT")
                    return False
                hour = ts - ts % KEYFRAME_SECONDS
                key = db.execute(
                    "SELECT id, ts, rows FROM frames WHERE epoch = ? AND ts >= ? AND ts < ? AND base IS NULL "
                    "ORDER BY ts LIMIT 1", (epoch, hour, ts)).fetchone()
                delta = _difference(rows, self._frame_rows(key[0], key[2])) if key is not None else None
                if delta is None:
                    base, blob = None, _encode(rows)
                else:
                    base, blob = key[0], _encode(delta)
                if exists is not None:
                    # A keyframe replaced in its own minute: the hour's later deltas (none, normally) go with it.
                    db.execute("DELETE FROM frames WHERE base = ?", (exists[0],))
                db.execute("INSERT OR REPLACE INTO frames (epoch, ts, base, rows, totals) VALUES (?, ?, ?, ?, ?)",
                           (epoch, ts, base, blob, orjson.dumps(_totals(rows))))
                if ts - self._thinned >= _DOWNSAMPLE_EVERY:
                    self._downsample(db, ts)
                    self._thinned = ts
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return True

    def downsample(self, now: int) -> None:
        """Thin the frames older than a day (see the module's docstring); drop those past RETENTION."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            self._downsample(db, now)
            db.execute("COMMIT")

    def _downsample(self, db: sqlite3.Connection, now: int) -> None:
        db.execute("DELETE FROM frames WHERE ts < ?", (now - self.retention,))
        # Only the index is read here (no blobs): a few thousand rows at most.
        old = db.execute("SELECT id, epoch, ts, base FROM frames WHERE ts < ?", (now - TIERS[0][0],)).fetchall()
        if not old:
            return
        last = dict(db.execute("SELECT epoch, MAX(ts) FROM frames GROUP BY epoch").fetchall())
        first: dict[tuple[str, int], tuple[int, int]] = {}  # (epoch, bucket) -> (ts, id)
        for fid, epoch, ts, _ in old:
            step = next(every for age, every in reversed(TIERS) if ts < now - age)
            bucket = (epoch, ts - ts % step)
            if bucket not in first or ts < first[bucket][0]:
                first[bucket] = (ts, fid)
        keep = {fid for _, fid in first.values()}
        keep |= {fid for fid, epoch, ts, _ in old if last.get(epoch) == ts}
        keep |= {base for fid, _, _, base in old if fid in keep and base is not None}
        gone = [(fid,) for fid, _, _, _ in old if fid not in keep]
        db.executemany("DELETE FROM frames WHERE id = ?", gone)
        db.execute("DELETE FROM epochs WHERE started < ? AND epoch NOT IN (SELECT DISTINCT epoch FROM frames)",
                   (now - self.retention,))
        db.execute("DELETE FROM ladders WHERE epoch NOT IN (SELECT epoch FROM epochs)")

    def heads(self, t: float) -> dict[str, Head]:
        """Per epoch that had started by `t`: its last frame at or before `t` (its end if it ended)."""
        out: dict[str, Head] = {}
        with self._connect() as db:
            epochs = [e for (e,) in db.execute("SELECT epoch FROM epochs WHERE started <= ?", (t,))]
            for epoch in epochs:
                row = db.execute("SELECT id, ts, base FROM frames WHERE epoch = ? AND ts <= ? "
                                 "ORDER BY ts DESC LIMIT 1", (epoch, int(t))).fetchone()
                if row is not None:
                    out[epoch] = Head(*row)
        return out

    def frame(self, head: Head) -> Frame:
        """The frame a head points at, decoded (a delta added to its keyframe)."""
        with self._lock:
            cached = self._decoded.get(head.fid)
            if cached is not None:
                self._decoded.move_to_end(head.fid)
                return cached
        with self._connect() as db:
            found = db.execute("SELECT rows FROM frames WHERE id = ?", (head.fid,)).fetchone()
            rows = _decode(found[0]) if found is not None else {}
            if head.base is not None and found is not None:
                key = db.execute("SELECT rows FROM frames WHERE id = ?", (head.base,)).fetchone()
                rows = _apply(self._frame_rows(head.base, key[0]) if key is not None else {}, rows)
        frame = Frame(rows)
        self._remember(head.fid, frame)
        return frame

    def on(self, head: Head, route: str | None) -> Totals:
        """Per vital, the counts of the frame `head` points at on `route`; every route's sum (stored beside
        the frame, a few hundred bytes) when None, so such a lookup decodes no route."""
        if route is not None:
            return self.frame(head).on(route)
        with self._lock:
            cached = self._summed.get(head.fid)
        if cached is not None:
            return cached
        with self._connect() as db:
            found = db.execute("SELECT totals FROM frames WHERE id = ?", (head.fid,)).fetchone()
        totals: Totals = orjson.loads(found[0]) if found is not None else {}
        with self._lock:
            self._summed[head.fid] = totals
            while len(self._summed) > _SUMMED:
                self._summed.popitem(last=False)
        return totals

    def at(self, t: float) -> dict[str, Frame]:
        """Per epoch that had started by `t`: its last frame at or before `t`, decoded."""
        return {epoch: self.frame(head) for epoch, head in self.heads(t).items()}

    def _frame_rows(self, fid: int, blob: bytes) -> Rows:
        """A keyframe's rows (decoded once, then from the LRU)."""
        with self._lock:
            cached = self._decoded.get(fid)
        if cached is not None:
            return cached.rows
        frame = Frame(_decode(blob))
        self._remember(fid, frame)
        return frame.rows

    def _remember(self, fid: int, frame: Frame) -> None:
        with self._lock:
            self._decoded[fid] = frame
            while len(self._decoded) > _DECODED:
                self._decoded.popitem(last=False)

    def size(self) -> int:
        """Bytes the database takes on disk after a checkpoint (the write-ahead log moved into the file)."""
        with self._connect() as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in (self.path, self.path.with_name(self.path.name + "-wal"))
                   if p.exists())

