"""The attribution top-K of every worker of every replica, in the shared database (database.url).

The same shape as attribution_files, one row per worker instead of a file: `attribution_workers(worker,
written, seen, tables)`, `tables` this worker's every (kind, route) top-K, zlib-compressed JSON. A worker
writes its row with ONE upsert per flush interval (only when its tables changed; otherwise, every third of
the stale horizon, an UPDATE of `seen` says it is alive), never one per beacon: the beacons only touch the
in-memory tables. Readers read every other row's `written` (the tables stay in TOAST, unread) and fetch
only the rows that changed, at most once a second, and merge them (Space-Saving tables add up).

Rows nobody refreshed within the stale horizon (the database's clock) belong to past workers (a restart,
a crash, a scaled-down replica): a live worker merges them into the row `merged` (top k per table) and
deletes them in one transaction under an advisory lock, so no count is merged twice or lost.

When the database does not answer, nothing counted is lost: the tables live in memory anyway (bounded: k
values per kind and route), the write fails, and the next flush writes them whole; readers keep the last
merge they read. The outage is logged once (db_outage).
"""

from __future__ import annotations

import threading
import time
import zlib

import orjson

from .attribution_files import parse_tables
from .attribution_tables import Index, Table, TableKey, Tables, merge_into, top_k
from .db import TRANSIENT_ERRORS, Database
from .db.postgres import LOCK_CLASS
from .db_outage import Outage

MERGED = "merged"
#: pg_advisory_xact_lock(LOCK_CLASS, this): one merge of past workers' rows at a time (db.postgres uses 1, 2).
MERGE_LOCK = 16
#: How long a reader reuses the rows it read (the flush interval is longer: a row changes every few seconds).
READ_EVERY = 1.0
_NOW = "EXTRACT(EPOCH FROM clock_timestamp())"
_UPSERT = (f"INSERT INTO attribution_workers (worker, written, seen, tables) VALUES (?, {_NOW}, {_NOW}, ?) "
           "ON CONFLICT (worker) DO UPDATE SET written = excluded.written, seen = excluded.seen, "
           "tables = excluded.tables")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS attribution_workers (worker TEXT PRIMARY KEY, written DOUBLE PRECISION NOT NULL, "
    "seen DOUBLE PRECISION NOT NULL, tables BYTEA NOT NULL)",
)


def _encode(tables: Tables) -> bytes:
    return zlib.compress(orjson.dumps([{"kind": k, "route": r, "counts": c} for (k, r), c in tables]), 6)


def _decode(blob: bytes) -> Tables:
    try:
        return parse_tables(orjson.loads(zlib.decompress(blob)))
    except (zlib.error, ValueError):
        return []


class WorkerRows:
    """This worker's row in the shared database, and every other row there (attribution_tables.WorkerTables)."""

    def __init__(self, database: Database, name: str) -> None:
        self.database = database
        self.name = name
        self.outage = Outage("attribution top-K", database.location,
                             "this worker's top-K stays in memory (k values per kind and route)")
        self._parsed: dict[str, tuple[float, Tables]] = {}
        self._index: tuple[float, Index] | None = None
        self._read_lock = threading.Lock()
        self._touched = 0.0
        self._checked = 0.0
        #: Statements that wrote (upserts, touches, merges): what benchmarks and tests count.
        self.writes = 0

    @staticmethod
    def prepare(database: Database) -> None:
        """Create the table (at start, under the database's schema lock; idempotent)."""
        database.prepare(SCHEMA, lambda _db: None)

    def index(self) -> Index:
        now = time.monotonic()
        with self._read_lock:
            if self._index is not None and now - self._index[0] < READ_EVERY:
                return self._index[1]
            try:
                index = self._read()
            except TRANSIENT_ERRORS as exc:
                self.outage.failed(exc)
                index = self._index[1] if self._index is not None else Index()
            self._index = (now, index)
            return index

    def _read(self) -> Index:
        with self.database.connect() as db:
            versions = {row["worker"]: row["written"] for row in
                        db.execute("SELECT worker, written FROM attribution_workers WHERE worker <> ?", (self.name,))}
            stale = [w for w, written in versions.items() if self._parsed.get(w, (None,))[0] != written]
            if stale:
                for row in db.execute("SELECT worker, written, tables FROM attribution_workers WHERE worker = ANY(?)",
                                      (stale,)):
                    self._parsed[row["worker"]] = (row["written"], _decode(bytes(row["tables"])))
        self._parsed = {w: v for w, v in self._parsed.items() if w in versions}
        index = Index()
        for worker, (_, tables) in self._parsed.items():
            for key, counts in tables:
                index.add(key, counts, current=worker != MERGED)
        return index

    def write(self, tables: Tables) -> None:
        try:
            with self.database.connect() as db:
                db.execute(_UPSERT, (self.name, _encode(tables)))
        except TRANSIENT_ERRORS as exc:
            self.outage.failed(exc)
            raise
        self.writes += 1
        self._touched = time.monotonic()
        self.outage.recovered()

    def touch(self, every: float = 20.0) -> None:
        if time.monotonic() - self._touched < every:
            return
        try:
            with self.database.connect() as db:
                db.execute(f"UPDATE attribution_workers SET seen = {_NOW} WHERE worker = ?", (self.name,))
        except TRANSIENT_ERRORS as exc:
            self.outage.failed(exc)
            return
        self.writes += 1
        self._touched = time.monotonic()
        self.outage.recovered()

    def merge_past(self, k: int, stale_seconds: float) -> int:
        now = time.monotonic()
        if now - self._checked < stale_seconds / 3:
            return 0
        self._checked = now
        try:
            return self._merge(k, stale_seconds)
        except TRANSIENT_ERRORS as exc:
            self.outage.failed(exc)
            return 0

    def _merge(self, k: int, stale_seconds: float) -> int:
        with self.database.transaction(serial=False) as db:
            past = db.execute("SELECT worker FROM attribution_workers WHERE worker NOT IN (?, ?) "
                              f"AND seen < {_NOW} - ?", (self.name, MERGED, stale_seconds)).fetchall()
            if not past:
                return 0
            db.execute("SELECT pg_advisory_xact_lock(?, ?)", (LOCK_CLASS, MERGE_LOCK))
            rows = db.execute("SELECT worker, tables FROM attribution_workers WHERE worker = ANY(?) AND "
                              f"(worker = ? OR seen < {_NOW} - ?)",
                              ([*(r["worker"] for r in past), MERGED], MERGED, stale_seconds)).fetchall()
            gone = [r["worker"] for r in rows if r["worker"] != MERGED]
            if not gone:
                return 0  # another worker merged them meanwhile
            merged: dict[TableKey, Table] = {}
            for row in rows:
                for key, counts in _decode(bytes(row["tables"])):
                    merge_into(merged, key, counts)
            db.execute(_UPSERT, (MERGED, _encode([(key, top_k(counts, k)) for key, counts in merged.items()])))
            db.execute("DELETE FROM attribution_workers WHERE worker = ANY(?)", (gone,))
        self.writes += 1
        return len(gone)
