"""Which LCP images, INP targets and scripts, and CLS shift targets the beacons blame most, per route, and
which page URLs they report most per route (PAGE_URL: the summary's `pageUrl`, cleaned by page_urls first).

These are unbounded strings (URLs, CSS selectors), so they never become metric labels. Each worker keeps
a Space-Saving top-K per (kind, route) in memory (fixed size however many distinct values arrive) and
writes it to `data_dir/attribution/<pid>-<host>-<token>.json` every few seconds; readers merge every worker's
file (parsed again only when it changed), and the files survive restarts, so what was reported is not lost
when the exporter restarts. The files of past workers are merged into `merged.json` and removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import orjson

from .processes import pid_alive
from .routes import url_path

KINDS = ("lcp.url", "lcp.target", "inp.target", "inp.script", "cls.target")
#: The page URLs seen per route (page_urls.SiteUrls cleans them first): the summary's `pageUrl`.
PAGE_URL = "page.url"
#: Distinct page URLs kept per route and worker (a route like /products/:id has one per product).
PAGE_URL_K = 8
#: Per vital, the attribution kinds its diagnosis lists, under the summary's field names.
DIAGNOSIS_KINDS = {
    "LCP": (("lcp.url", "lcpResources"), ("lcp.target", "lcpElements")),
    "INP": (("inp.target", "interactionTargets"), ("inp.script", "longestScripts")),
    "CLS": (("cls.target", "largestShiftTargets"),),
}
MAX_VALUE_LENGTH = 300
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _text(value: Any) -> str | None:
    return _clean_text(value) if isinstance(value, str) and value else None


def _resource(value: Any) -> str | None:
    """A resource URL without its query string (cache busters would split one image into many)."""
    return _clean_resource(value) if isinstance(value, str) and value else None


# Beacons name the same few images, selectors and scripts over and over: each distinct string is cleaned
# once. The caches are bounded (least recently used go first), so forged values cost memory only up to
# the bound, and each lookup is one hash of a string the decoder has just built.
@lru_cache(maxsize=4096)
def _clean_text(value: str) -> str | None:
    # No real selector or URL holds a control character; a value with one is forged (a NUL byte would
    # also break every action that turns a URL into a path).
    text = value[:MAX_VALUE_LENGTH]
    return text if _CONTROL.search(text) is None else None


@lru_cache(maxsize=4096)
def _clean_resource(value: str) -> str | None:
    text = _clean_text(value)
    if text is None or text.startswith("data:"):
        return None
    base = text.split("#", 1)[0].split("?", 1)[0]
    if base.startswith(("http://", "https://")):
        scheme_end = base.index("//") + 2
        slash = base.find("/", scheme_end)
        return base[:scheme_end] + (base[scheme_end:] if slash < 0 else base[scheme_end:slash] + url_path(base[slash:]))
    return base


Pairs = list[tuple[str, str]]


def _lcp(attribution: dict[str, Any]) -> Pairs:
    get = attribution.get
    url = _resource(get("url"))
    if url is None:
        entry = get("lcpEntry")  # web-vitals v3
        if isinstance(entry, dict):
            url = _resource(entry.get("url"))
    target = _text(get("target")) or _text(get("element"))
    if url:
        return [("lcp.url", url), ("lcp.target", target)] if target else [("lcp.url", url)]
    return [("lcp.target", target)] if target else []


def _inp(attribution: dict[str, Any]) -> Pairs:
    get = attribution.get
    target = _text(get("interactionTarget")) or _text(get("eventTarget"))  # eventTarget: web-vitals v3
    out = [("inp.target", target)] if target else []
    script = get("longestScript")
    if isinstance(script, dict):
        nested = script.get("entry")
        entry: dict[str, Any] = nested if isinstance(nested, dict) else script
        source = _resource(entry.get("sourceURL")) or _resource(entry.get("url")) or _text(entry.get("invoker"))
        if source:
            out.append(("inp.script", source))
    return out


def _cls(attribution: dict[str, Any]) -> Pairs:
    target = _text(attribution.get("largestShiftTarget"))
    return [("cls.target", target)] if target else []


#: The vitals whose attribution the top-K keeps; FCP and TTFB name nothing to blame.
_EXTRACTORS: dict[str, Callable[[dict[str, Any]], Pairs]] = {"LCP": _lcp, "INP": _inp, "CLS": _cls}


def extract(vital: str, attribution: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) pairs from one report's attribution; field names of web-vitals v3 to v6 accepted."""
    extractor = _EXTRACTORS.get(vital)
    return [] if extractor is None else extractor(attribution)


class SpaceSaving:
    """Metwally et al.'s Space-Saving top-K: at most `k` counters; a newcomer replaces the smallest."""

    __slots__ = ("counts", "k")

    def __init__(self, k: int) -> None:
        self.k = k
        self.counts: dict[str, int] = {}

    def add(self, value: str, count: int = 1) -> None:
        counts = self.counts
        if value in counts:
            counts[value] += count
        elif len(counts) < self.k:
            counts[value] = count
        else:
            smallest = min(counts, key=counts.__getitem__)
            counts[value] = counts.pop(smallest) + count


Table = dict[str, int]
TableKey = tuple[str, str]  # (kind, route)
MERGED = "merged.json"
#: This host (container) in worker file names, so that only its own pids are checked for being alive.
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_LOCK = ".merge.lock"


K = TypeVar("K")


def _merge_into(target: dict[K, Table], key: K, counts: Table) -> None:
    table = target.setdefault(key, {})
    for value, count in counts.items():
        table[value] = table.get(value, 0) + count


@dataclass(frozen=True)
class _Parsed:
    written: float | None
    tables: list[tuple[TableKey, Table]]
    absorbed: frozenset[tuple[str, float]]  # merged.json only: the worker files it holds already


class _Index:
    """Every file's tables merged, per kind and route and per kind over all routes."""

    def __init__(self) -> None:
        self.by_route: dict[TableKey, Table] = {}
        self.by_kind: dict[str, Table] = {}
        self.pages_now: dict[str, Table] = {}  # per route, the page URLs of the workers' own files (not merged)

    def add(self, key: TableKey, counts: Table, current: bool = False) -> None:
        _merge_into(self.by_route, key, counts)
        _merge_into(self.by_kind, key[0], counts)
        if current and key[0] == PAGE_URL:
            _merge_into(self.pages_now, key[1], counts)


class AttributionStore:
    """This worker's top-K tables, and what every worker's file (and the merge of past ones) holds.

    A worker's file is `<pid>-<host>-<token>.json`, rewritten (or touched) every `flush_seconds`. A file whose
    process on this host is gone, or that nobody touched for STALE_FLUSHES flushes, belongs to a past worker (a reload,
    a respawn, a crash): a live worker merges it into `merged.json` and removes it, under a lock file so two
    workers never merge at once. `merged.json` lists the files it absorbed, so a reader that still sees one
    of them between the merge and its removal does not count it twice.
    """

    STALE_FLUSHES = 12

    def __init__(self, directory: Path | None, k: int, flush_seconds: float = 5.0) -> None:
        self.k = k
        self._dir = directory
        self._name = f"{os.getpid()}-{HOST_TAG}-{uuid.uuid4().hex[:8]}.json"
        self._tables: dict[TableKey, SpaceSaving] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self._flush_seconds = flush_seconds
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._parsed: dict[str, tuple[tuple[int, int], _Parsed]] = {}
        self._index: tuple[tuple[tuple[str, int, int], ...], _Index] | None = None
        self._read_lock = threading.Lock()

    def record(self, vital: str, route: str, attribution: dict[str, Any]) -> None:
        extractor = _EXTRACTORS.get(vital)
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
        """The page URL the beacons of `route` reported most to the workers of now (their files, this one's
        table), else to past workers (merged.json); None when none was kept. Recent URLs first, so a page
        gone since an earlier run stops being shown once the route has new page views."""
        index = self._files()
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
        index = self._files()
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

    # --- the files of every worker ----------------------------------------------------------------

    def _files(self) -> _Index:
        """Every other file's tables, merged; parsed again only when a file changed."""
        if self._dir is None:
            return _Index()
        entries: list[tuple[str, int, int]] = []
        try:
            for entry in os.scandir(self._dir):
                if entry.name.endswith(".json") and entry.name != self._name:
                    with contextlib.suppress(OSError):  # removed meanwhile (merged): nothing to read
                        stat = entry.stat()
                        entries.append((entry.name, stat.st_mtime_ns, stat.st_size))
        except OSError:
            return _Index()
        signature = tuple(sorted(entries))
        with self._read_lock:
            if self._index is not None and self._index[0] == signature:
                return self._index[1]
            parsed = {name: self._parse(name, (mtime, size)) for name, mtime, size in entries if name != MERGED}
            merged = self._parse(MERGED, next(((m, s) for n, m, s in entries if n == MERGED), (0, 0)))
            index = _Index()
            for key, counts in merged.tables:
                index.add(key, counts)
            for name, file in parsed.items():
                if (name, file.written) not in merged.absorbed:
                    for key, counts in file.tables:
                        index.add(key, counts, current=True)
            self._parsed = {n: v for n, v in self._parsed.items() if n in parsed or n == MERGED}
            self._index = (signature, index)
            return index

    def _parse(self, name: str, stamp: tuple[int, int]) -> _Parsed:
        known = self._parsed.get(name)
        if known is not None and known[0] == stamp:
            return known[1]
        assert self._dir is not None
        parsed = _read(self._dir / name)
        self._parsed[name] = (stamp, parsed)
        return parsed

    def _file(self) -> Path:
        assert self._dir is not None
        return self._dir / self._name

    def flush(self) -> None:
        if self._dir is None:
            return
        if not self._dirty:
            with contextlib.suppress(OSError):
                os.utime(self._file())  # still alive: nobody may take this file for a past worker's
            return
        with self._lock:
            rows = [{"kind": k, "route": r, "counts": t.counts.copy()} for (k, r), t in self._tables.items()]
            self._dirty = False
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            _write_json(self._file(), {"written": time.time(), "tables": rows})
        except OSError:
            self._dirty = True  # the next flush writes it, new reports or not
            raise

    def merge_past(self) -> int:
        """Merge the files of past workers into merged.json and remove them; how many were merged."""
        if self._dir is None:
            return 0
        horizon = time.time() - self.STALE_FLUSHES * self._flush_seconds
        return merge_files(self._dir, self.k, lambda path: path.name != self._name and _is_past(path, horizon))

    def start(self) -> None:
        if self._dir is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="perfbudget-attribution", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            try:
                self.flush()
                self.merge_past()
            except OSError:
                pass  # a full disk must not kill the thread; the next flush retries

    def close(self) -> None:
        self._stop.set()
        self.flush()


def _is_past(path: Path, horizon: float) -> bool:
    """A worker file that has not been touched since `horizon`, or whose process, on this host, is gone (a
    data directory shared by hosts or containers: another host's pid says nothing here)."""
    pid_text, _, rest = path.name.partition("-")
    try:
        if path.stat().st_mtime < horizon:
            return True
    except OSError:
        return False
    return rest.startswith(f"{HOST_TAG}-") and pid_text.isdigit() and not pid_alive(int(pid_text))


def _write_json(target: Path, data: dict[str, Any]) -> None:
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(data))
    os.replace(tmp, target)


def _read(path: Path) -> _Parsed:
    """One file's tables; a file being replaced, damaged or foreign yields what is well formed."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        return _Parsed(None, [], frozenset())
    if not isinstance(data, dict):
        return _Parsed(None, [], frozenset())
    written = data.get("written")
    tables = data.get("tables")
    out: list[tuple[TableKey, Table]] = []
    for row in tables if isinstance(tables, list) else ():
        if not isinstance(row, dict):
            continue
        kind, route, counts = row.get("kind"), row.get("route"), row.get("counts")
        if isinstance(kind, str) and isinstance(route, str) and isinstance(counts, dict):
            out.append(((kind, route), {v: c for v, c in counts.items() if isinstance(v, str) and type(c) is int}))
    absorbed = data.get("absorbed")
    held = frozenset((n, float(w)) for n, w in (absorbed if isinstance(absorbed, list) else ())
                     if isinstance(n, str) and isinstance(w, int | float))
    return _Parsed(float(written) if isinstance(written, int | float) else None, out, held)


def merge_files(directory: Path, k: int, past: Callable[[Path], bool]) -> int:
    """Merge the worker files `past` picks into merged.json (top k per table) and remove them, under the
    directory's merge lock; how many were merged."""
    if not directory.is_dir():
        return 0
    with open(directory / _LOCK, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            candidates = [p for p in sorted(directory.glob("*.json")) if p.name != MERGED and past(p)]
            if not candidates:
                return 0
            merged_file = _read(directory / MERGED)
            tables: dict[TableKey, Table] = {}
            for key, counts in merged_file.tables:
                _merge_into(tables, key, counts)
            absorbed = {(n, w) for n, w in merged_file.absorbed if (directory / n).exists()}
            for path in candidates:
                file = _read(path)
                if (path.name, file.written) in merged_file.absorbed:
                    continue  # merged already: a merge stopped before it removed the file
                for key, counts in file.tables:
                    _merge_into(tables, key, counts)
                if file.written is not None:
                    absorbed.add((path.name, file.written))
            rows = [{"kind": kind, "route": route,
                     "counts": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k])}
                    for (kind, route), counts in tables.items()]
            _write_json(directory / MERGED, {"written": time.time(), "tables": rows,
                                             "absorbed": sorted([n, w] for n, w in absorbed)})
            for path in candidates:
                path.unlink(missing_ok=True)
            return len(candidates)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def compact(directory: Path, k: int) -> None:
    """At start, before any worker: every worker file of earlier runs merged into one top-k per table."""
    merge_files(directory, k, lambda _path: True)
