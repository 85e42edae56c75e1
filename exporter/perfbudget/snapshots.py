"""Snapshots of the cumulative histograms in SQLite, shared by every worker of every run, thinned with age;
with `database.url`, in the shared database, shared by every replica too.

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

With `database.url` the same tables live in PostgreSQL (schema perfbudget). Each replica is its own run
(epoch), so a window's counts, the sum over the runs, cover every replica: its own live counts plus the
other replicas' last frames (at most a minute old). A frame is still written once a minute per replica, by
the snapshot thread; when the database does not answer, the frames wait in memory (snapshot_backlog).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import orjson

from .db import TRANSIENT_ERRORS, Connection, Database, SqliteDatabase
from .snapshot_backlog import FrameBacklog
from .snapshot_frames import Frame, Head, Ladder, Rows, Totals, apply_delta, decode, difference, encode, totals_of

__all__ = ["DAY", "MINUTE", "RETENTION", "TIERS", "WEEK", "Frame", "Head", "Rows", "SnapshotStore", "Totals"]

MINUTE, DAY, WEEK = 60, 86400, 7 * 86400
RETENTION = 15 * DAY
KEYFRAME_SECONDS = 3600
#: (age beyond which, one frame per this many seconds is kept)
TIERS = ((DAY, 600), (WEEK, 3600))
_DOWNSAMPLE_EVERY = 600  # seconds of snapshot time between two thinning passes
_DECODED = 8  # frames kept decoded per store
_SUMMED = 256  # frames' sums over the routes kept per store
_DELETE_CHUNK = 500  # ids per DELETE ... IN (...)

_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS epochs (epoch TEXT PRIMARY KEY, started REAL NOT NULL)",
    # One row per epoch and minute; base: the keyframe's id for a delta, NULL for a keyframe.
    # ids are never reused (AUTOINCREMENT), so a decoded frame cached by id is never another's.
    "CREATE TABLE IF NOT EXISTS frames (id INTEGER PRIMARY KEY AUTOINCREMENT, epoch TEXT NOT NULL, "
    "ts INTEGER NOT NULL, base INTEGER, rows BLOB NOT NULL, totals BLOB NOT NULL, UNIQUE (epoch, ts))",
    "CREATE INDEX IF NOT EXISTS frames_ts ON frames (ts)",
    # Each run's bucket edges per vital: counts of runs with other edges never add up with ours.
    "CREATE TABLE IF NOT EXISTS ladders (epoch TEXT PRIMARY KEY, edges BLOB NOT NULL)",
)
_POSTGRES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS epochs (epoch TEXT PRIMARY KEY, started DOUBLE PRECISION NOT NULL)",
    # An identity is never reused either.
    "CREATE TABLE IF NOT EXISTS frames (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, epoch TEXT NOT NULL, "
    "ts BIGINT NOT NULL, base BIGINT, rows BYTEA NOT NULL, totals BYTEA NOT NULL, UNIQUE (epoch, ts))",
    "CREATE INDEX IF NOT EXISTS frames_ts ON frames (ts)",
    "CREATE TABLE IF NOT EXISTS ladders (epoch TEXT PRIMARY KEY, edges BYTEA NOT NULL)",
)


class _FrameFile(SqliteDatabase):
    """summary.sqlite: WAL without a sync per commit (a power cut may lose the last minutes' frames, never
    corrupt the file), and a longer busy timeout than the runs' store."""

    @contextmanager
    def connect(self) -> Iterator[Connection]:  # type: ignore[override]
        with super().connect() as db:
            db.execute("PRAGMA synchronous=NORMAL")
            yield db


class SnapshotStore:
    """The frames in `path` (SQLite, WAL) for every worker of every run, or in `database` (shared) when given."""

    def __init__(self, path: Path, retention: int = RETENTION, database: Database | None = None) -> None:
        self.path = path
        self.retention = retention  # seconds of frames kept (METRICS_RETENTION_DAYS)
        self.database: Database = database if database is not None else _FrameFile(path, busy_timeout=10)
        shared = self.database.kind != "sqlite"
        self.database.prepare(_POSTGRES_SCHEMA if shared else _SQLITE_SCHEMA, lambda _db: None)
        # A shared database may not answer for a while: its frames wait (snapshot_backlog); SQLite's raise.
        self.backlog = FrameBacklog(self.database.location) if shared else None
        self._lock = threading.Lock()
        self._decoded: OrderedDict[int, Frame] = OrderedDict()
        self._summed: OrderedDict[int, Totals] = OrderedDict()
        self._thinned = 0
        self._ladders: dict[str, Ladder | None] = {}  # a run's edges never change (nor their absence): read once

    @property
    def location(self) -> str:
        return self.database.location

    def drop_legacy(self) -> None:
        """Drop the table of the layout before frames (one row per series and minute: gigabytes). Its history
        is not converted; dropping it takes a while, so the snapshot thread does it, not a worker's start."""
        if self.database.kind != "sqlite":
            return  # the shared store never had it
        with self.database.connect() as db:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'").fetchone():
                db.execute("PRAGMA busy_timeout = 300000")
                db.execute("DROP TABLE snapshots")

    def begin_epoch(self, epoch: str, started: float, edges: Mapping[str, Sequence[float]] | None = None) -> None:
        """Record a run, and with `edges` its bucket edges per vital (see `ladders`)."""
        with self.database.transaction(serial=False) as db:  # both rows at once: a run is never seen without its edges
            db.execute("INSERT INTO epochs (epoch, started) VALUES (?, ?) ON CONFLICT DO NOTHING", (epoch, started))
            if edges is not None:
                db.execute("INSERT INTO ladders (epoch, edges) VALUES (?, ?) ON CONFLICT DO NOTHING",
                           (epoch, orjson.dumps({name: list(e) for name, e in edges.items()})))

    def ladders(self, epochs: Iterable[str]) -> dict[str, Ladder]:
        """Per epoch, the bucket edges per vital its frames were counted in. Runs recorded without them (by
        an older perfbudget) are missing: for those only the number of buckets can be compared."""
        epochs = list(epochs)
        wanted = [e for e in epochs if e not in self._ladders]
        if wanted:
            with self.database.connect() as db:
                marks = ",".join("?" * len(wanted))
                rows = {row["epoch"]: bytes(row["edges"]) for row in
                        db.execute(f"SELECT epoch, edges FROM ladders WHERE epoch IN ({marks})", wanted)}
            for epoch in wanted:
                found: dict[str, list[float]] | None = orjson.loads(rows[epoch]) if epoch in rows else None
                self._ladders[epoch] = None if found is None else {n: tuple(e) for n, e in found.items()}
        return {e: ladder for e in epochs if (ladder := self._ladders[e]) is not None}

    def check(self) -> None:
        """Raise when the store cannot be read (one indexed row: cheap enough for every /-/ready). A shared
        database that does not answer does not: the replica keeps taking beacons (a readiness probe failing
        on every replica at once would turn a database outage into lost beacons) and its frames wait."""
        try:
            with self.database.connect() as db:
                db.execute("SELECT ts FROM frames ORDER BY ts DESC LIMIT 1").fetchone()
        except TRANSIENT_ERRORS as exc:
            if self.backlog is None:
                raise
            self.backlog.outage.failed(exc)

    def has(self, epoch: str, ts: int) -> bool:
        if self.backlog is not None:
            return self.backlog.has(epoch, ts, self._has)
        return self._has(epoch, ts)

    def _has(self, epoch: str, ts: int) -> bool:
        with self.database.connect() as db:
            return db.execute("SELECT 1 FROM frames WHERE epoch = ? AND ts = ?", (epoch, ts)).fetchone() is not None

    def save(self, epoch: str, ts: int, rows: Rows, replace: bool = False) -> bool:
        """Store one minute's frame; the first worker to store a minute wins unless `replace`. Whether it
        stored the frame (False: another worker had, or, shared, it waits for the database: `backlog`)."""
        if self.backlog is not None:
            return self.backlog.save(epoch, ts, rows, replace, self._save)
        return self._save(epoch, ts, rows, replace)

    def _save(self, epoch: str, ts: int, rows: Rows, replace: bool = False) -> bool:
        # serial: one writer at a time, every worker (and replica) of every run (SQLite: BEGIN IMMEDIATE).
        with self.database.transaction(serial=True) as db:
            exists = db.execute("SELECT id, base FROM frames WHERE epoch = ? AND ts = ?", (epoch, ts)).fetchone()
            if exists is not None and not replace:
                return False
            hour = ts - ts % KEYFRAME_SECONDS
            key = db.execute(
                "SELECT id, ts, rows FROM frames WHERE epoch = ? AND ts >= ? AND ts < ? AND base IS NULL "
                "ORDER BY ts LIMIT 1", (epoch, hour, ts)).fetchone()
            delta = difference(rows, self._frame_rows(key["id"], bytes(key["rows"]))) if key is not None else None
            if delta is None:
                base, blob = None, encode(rows)
            else:
                base, blob = key["id"], encode(delta)
            if exists is not None:
                # A keyframe replaced in its own minute: the hour's later deltas (none, normally) go with it.
                db.execute("DELETE FROM frames WHERE base = ?", (exists["id"],))
                db.execute("DELETE FROM frames WHERE id = ?", (exists["id"],))
            db.execute("INSERT INTO frames (epoch, ts, base, rows, totals) VALUES (?, ?, ?, ?, ?)",
                       (epoch, ts, base, blob, orjson.dumps(totals_of(rows))))
            if ts - self._thinned >= _DOWNSAMPLE_EVERY:
                self._downsample(db, ts)
                self._thinned = ts
        return True

    def downsample(self, now: int) -> None:
        """Thin the frames older than a day (see the module's docstring); drop those past RETENTION."""
        with self.database.transaction(serial=True) as db:
            self._downsample(db, now)

    def _downsample(self, db: Connection, now: int) -> None:
        db.execute("DELETE FROM frames WHERE ts < ?", (now - self.retention,))
        # Only the index is read here (no blobs): a few thousand rows at most.
        old = [(r["id"], r["epoch"], r["ts"], r["base"]) for r in
               db.execute("SELECT id, epoch, ts, base FROM frames WHERE ts < ?", (now - TIERS[0][0],))]
        if not old:
            return
        last = {r["epoch"]: r["ts"] for r in db.execute("SELECT epoch, MAX(ts) AS ts FROM frames GROUP BY epoch")}
        first: dict[tuple[str, int], tuple[int, int]] = {}  # (epoch, bucket) -> (ts, id)
        for fid, epoch, ts, _ in old:
            step = next(every for age, every in reversed(TIERS) if ts < now - age)
            bucket = (epoch, ts - ts % step)
            if bucket not in first or ts < first[bucket][0]:
                first[bucket] = (ts, fid)
        keep = {fid for _, fid in first.values()}
        keep |= {fid for fid, epoch, ts, _ in old if last.get(epoch) == ts}
        keep |= {base for fid, _, _, base in old if fid in keep and base is not None}
        gone = [fid for fid, _, _, _ in old if fid not in keep]
        for start in range(0, len(gone), _DELETE_CHUNK):
            chunk = gone[start:start + _DELETE_CHUNK]
            db.execute(f"DELETE FROM frames WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        db.execute("DELETE FROM epochs WHERE started < ? AND epoch NOT IN (SELECT DISTINCT epoch FROM frames)",
                   (now - self.retention,))
        db.execute("DELETE FROM ladders WHERE epoch NOT IN (SELECT epoch FROM epochs)")

    def heads(self, t: float) -> dict[str, Head]:
        """Per epoch that had started by `t`: its last frame at or before `t` (its end if it ended)."""
        # One query (a round trip to a shared database, whatever the number of runs); each run's last frame is
        # found on the (epoch, ts) unique index.
        with self.database.connect() as db:
            rows = db.execute("SELECT f.epoch AS epoch, f.id AS id, f.ts AS ts, f.base AS base FROM epochs e "
                              "JOIN frames f ON f.epoch = e.epoch WHERE e.started <= ? AND f.ts = "
                              "(SELECT MAX(g.ts) FROM frames g WHERE g.epoch = e.epoch AND g.ts <= ?)",
                              (t, int(t))).fetchall()
        return {row["epoch"]: Head(row["id"], row["ts"], row["base"]) for row in rows}

    def last_head(self, epoch: str, ts: int) -> Head | None:
        """The run's frame at `ts`, or else its last one before (not `heads(ts)`: that skips runs that started
        after `ts`, as a run's first minute's frame did)."""
        with self.database.connect() as db:
            row = db.execute("SELECT id, ts, base FROM frames WHERE epoch = ? AND ts <= ? ORDER BY ts DESC LIMIT 1",
                             (epoch, ts)).fetchone()
        return Head(row["id"], row["ts"], row["base"]) if row is not None else None

    def frame(self, head: Head) -> Frame:
        """The frame a head points at, decoded (a delta added to its keyframe)."""
        with self._lock:
            cached = self._decoded.get(head.fid)
            if cached is not None:
                self._decoded.move_to_end(head.fid)
                return cached
        with self.database.connect() as db:
            found = db.execute("SELECT rows FROM frames WHERE id = ?", (head.fid,)).fetchone()
            rows = decode(bytes(found["rows"])) if found is not None else {}
            if head.base is not None and found is not None:
                key = db.execute("SELECT rows FROM frames WHERE id = ?", (head.base,)).fetchone()
                rows = apply_delta(self._frame_rows(head.base, bytes(key["rows"])) if key is not None else {}, rows)
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
        with self.database.connect() as db:
            found = db.execute("SELECT totals FROM frames WHERE id = ?", (head.fid,)).fetchone()
        totals: Totals = orjson.loads(bytes(found["totals"])) if found is not None else {}
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
        frame = Frame(decode(blob))
        self._remember(fid, frame)
        return frame.rows

    def _remember(self, fid: int, frame: Frame) -> None:
        with self._lock:
            self._decoded[fid] = frame
            while len(self._decoded) > _DECODED:
                self._decoded.popitem(last=False)

    def size(self) -> int:
        """Bytes the frames take: SQLite's file after a checkpoint (the write-ahead log moved into the file),
        or the shared database's tables."""
        with self.database.connect() as db:
            if self.database.kind != "sqlite":
                row = db.execute("SELECT pg_total_relation_size('frames') + pg_total_relation_size('epochs') "
                                 "+ pg_total_relation_size('ladders') AS size").fetchone()
                return int(row["size"])
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in (self.path, self.path.with_name(self.path.name + "-wal"))
                   if p.exists())
