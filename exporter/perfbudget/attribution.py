"""Which LCP images, INP targets and scripts, and CLS shift targets the beacons blame most, per route, and
which page URLs they report most per route (PAGE_URL: the summary's `pageUrl`, cleaned by page_urls first).

These are unbounded strings (URLs, CSS selectors), so they never become metric labels. Each worker keeps
a Space-Saving top-K per (kind, route) in memory (attribution_tables: fixed size however many distinct
values arrive) and a background thread writes it every few seconds where every worker's is kept: a file
per worker under `data_dir/attribution` (attribution_files, one host), or, with `database.url`, a row per
worker in the shared database (attribution_db, every replica). Readers merge every worker's tables, and
they survive restarts; past workers' tables are merged into one. The beacons never wait on that writing.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

from .attribution_db import WorkerRows
from .attribution_extract import EXTRACTORS, KINDS, MAX_VALUE_LENGTH, extract
from .attribution_files import HOST_TAG, MERGED, WorkerFiles, compact, merge_files
from .attribution_tables import PAGE_URL, Index, SpaceSaving, TableKey, WorkerTables
from .db import Database

__all__ = ["HOST_TAG", "KINDS", "MAX_VALUE_LENGTH", "MERGED", "PAGE_URL", "AttributionStore", "SpaceSaving",
           "compact", "extract", "merge_files"]

#: Distinct page URLs kept per route and worker (a route like /products/:id has one per product).
PAGE_URL_K = 8
#: Per vital, the attribution kinds its diagnosis lists, under the summary's field names.
DIAGNOSIS_KINDS = {
    "LCP": (("lcp.url", "lcpResources"), ("lcp.target", "lcpElements")),
    "INP": (("inp.target", "interactionTargets"), ("inp.script", "longestScripts")),
    "CLS": (("cls.target", "largestShiftTargets"),),
}


class AttributionStore:
    """This worker's top-K tables, and what every worker's (attribution_tables.WorkerTables) hold.

    `directory`: the worker files' (attribution_files); `database`: a shared database instead
    (attribution_db); neither: this worker's tables only (tests, benchmarks). The tables are written every
    `flush_seconds` when they changed; a worker silent for STALE_FLUSHES flushes is a past one, its tables
    merged by a live worker.
    """

    STALE_FLUSHES = 12

    def __init__(self, directory: Path | None, k: int, flush_seconds: float = 5.0,
                 database: Database | None = None) -> None:
        self.k = k
        self._tables: dict[TableKey, SpaceSaving] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self._flush_seconds = flush_seconds
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.shared: WorkerTables | None
        if database is not None:
            WorkerRows.prepare(database)
            self.shared = WorkerRows(database, f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        else:
            self.shared = WorkerFiles(directory) if directory is not None else None

    def record(self, vital: str, route: str, attribution: dict[str, Any]) -> None:
        extractor = EXTRACTORS.get(vital)
        if extractor is None:
            return
        pairs = extractor(attribution)
        if not pairs:
            return
        tables = self._tables
        with self._lock:
            for kind, value in pairs:
                table = tables.get((kind, route))
                if table is None:
                    table = tables[(kind, route)] = SpaceSaving(self.k)
                table.add(value)
            self._dirty = True

    def record_page(self, route: str, url: str) -> None:
        """One accepted page view of `route` at `url` (already cleaned: page_urls.SiteUrls)."""
        key = (PAGE_URL, route)
        with self._lock:
            table = self._tables.get(key)
            if table is None:
                table = self._tables[key] = SpaceSaving(PAGE_URL_K)
            table.add(url)
            self._dirty = True

    def page_url(self, route: str) -> str | None:
        """The page URL the beacons of `route` reported most to the workers of now (their tables, this one's),
        else to past workers (their merge); None when none was kept. Recent URLs first, so a page
        gone since an earlier run stops being shown once the route has new page views."""
        index = self._others()
        counts = dict(index.pages_now.get(route, {}))
        with self._lock:
            table = self._tables.get((PAGE_URL, route))
            for value, count in (table.counts.items() if table is not None else ()):
                counts[value] = counts.get(value, 0) + count
        if not counts:
            counts = index.by_route.get((PAGE_URL, route), {})
        return min(counts.items(), key=lambda item: (-item[1], item[0]))[0] if counts else None

    def top(self, kind: str, route: str | None = None, limit: int | None = None) -> list[tuple[str, int]]:
        """Most-blamed values of `kind` on `route` (every route when None), merged across workers."""
        index = self._others()
        merged = dict(index.by_route.get((kind, route), {}) if route is not None else index.by_kind.get(kind, {}))
        with self._lock:
            mine = [t.counts for (k, r), t in self._tables.items() if k == kind and (route is None or r == route)]
            for counts in mine:
                for value, count in counts.items():
                    merged[value] = merged.get(value, 0) + count
        ranked = sorted(merged.items(), key=lambda item: (-item[1], item[0]))
        return ranked[: limit or self.k]

    def diagnosis(self, vital: str, route: str | None, limit: int = 5) -> dict[str, list[dict[str, Any]]]:
        """What the beacons blame most for `vital` on `route` (all routes when None): the summary's `diagnosis`."""
        return {
            key: [{"value": value, "count": count} for value, count in self.top(kind, route, limit=limit)]
            for kind, key in DIAGNOSIS_KINDS.get(vital, ())
        }

    def _others(self) -> Index:
        return self.shared.index() if self.shared is not None else Index()

    def flush(self) -> None:
        """Write this worker's tables where every worker's are kept (when they changed; else say it is alive).
        Raises what the writing raised (a full disk, a database that does not answer): the tables stay, the
        next flush writes them."""
        if self.shared is None:
            return
        if not self._dirty:
            self.shared.touch()
            return
        with self._lock:
            tables = [(key, table.counts.copy()) for key, table in self._tables.items()]
            self._dirty = False
        try:
            self.shared.write(tables)
        except BaseException:
            self._dirty = True  # the next flush writes it, new reports or not
            raise

    def merge_past(self) -> int:
        """Merge the tables of past workers into one and remove theirs; how many were merged."""
        if self.shared is None:
            return 0
        return self.shared.merge_past(self.k, self.STALE_FLUSHES * self._flush_seconds)

    def start(self) -> None:
        if self.shared is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="perfbudget-attribution", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            try:
                self.flush()
                self.merge_past()
            except Exception:  # a full disk, a database that is down (attribution_db logs it once): the thread goes on,
                pass  # the tables stay in memory and the next flush retries

    def close(self) -> None:
        self._stop.set()
        try:
            self.flush()
        except Exception:  # stopping with the database down: logged already, nothing more to do
            pass
