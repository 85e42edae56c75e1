"""The attribution top-K of every worker of one host, in files: `data_dir/attribution/<pid>-<host>-<token>.json`.

Each worker rewrites (or touches) its own file every few seconds; readers merge every worker's file (parsed
again only when it changed), and the files survive restarts. A file whose process on this host is gone, or
that nobody touched for a while, belongs to a past worker (a reload, a respawn, a crash): a live worker
merges it into `merged.json` and removes it, under a lock file so two workers never merge at once.
`merged.json` lists the files it absorbed, so a reader that still sees one of them between the merge and
its removal does not count it twice. The embedded default; attribution_db keeps the same in PostgreSQL.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .attribution_tables import Index, Table, TableKey, Tables, merge_into, top_k
from .processes import pid_alive

MERGED = "merged.json"
#: This host (container) in worker file names, so that only its own pids are checked for being alive.
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_LOCK = ".merge.lock"


@dataclass(frozen=True)
class _Parsed:
    written: float | None
    tables: Tables
    absorbed: frozenset[tuple[str, float]]  # merged.json only: the worker files it holds already


class WorkerFiles:
    """This worker's file in `directory`, and every other file there (attribution_tables.WorkerTables)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.name = f"{os.getpid()}-{HOST_TAG}-{uuid.uuid4().hex[:8]}.json"
        self._parsed: dict[str, tuple[tuple[int, int], _Parsed]] = {}
        self._index: tuple[tuple[tuple[str, int, int], ...], Index] | None = None
        self._read_lock = threading.Lock()

    def index(self) -> Index:
        """Every other file's tables, merged; parsed again only when a file changed."""
        entries: list[tuple[str, int, int]] = []
        try:
            for entry in os.scandir(self.directory):
                if entry.name.endswith(".json") and entry.name != self.name:
                    with contextlib.suppress(OSError):  # removed meanwhile (merged): nothing to read
                        stat = entry.stat()
                        entries.append((entry.name, stat.st_mtime_ns, stat.st_size))
        except OSError:
            return Index()
        signature = tuple(sorted(entries))
        with self._read_lock:
            if self._index is not None and self._index[0] == signature:
                return self._index[1]
            parsed = {name: self._parse(name, (mtime, size)) for name, mtime, size in entries if name != MERGED}
            merged = self._parse(MERGED, next(((m, s) for n, m, s in entries if n == MERGED), (0, 0)))
            index = Index()
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
        parsed = _read(self.directory / name)
        self._parsed[name] = (stamp, parsed)
        return parsed

    def write(self, tables: Tables) -> None:
        rows = [{"kind": kind, "route": route, "counts": counts} for (kind, route), counts in tables]
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_json(self.directory / self.name, {"written": time.time(), "tables": rows})

    def touch(self) -> None:
        with contextlib.suppress(OSError):
            os.utime(self.directory / self.name)  # still alive: nobody may take this file for a past worker's

    def merge_past(self, k: int, stale_seconds: float) -> int:
        horizon = time.time() - stale_seconds
        return merge_files(self.directory, k, lambda path: path.name != self.name and _is_past(path, horizon))


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
    absorbed = data.get("absorbed")
    held = frozenset((n, float(w)) for n, w in (absorbed if isinstance(absorbed, list) else ())
                     if isinstance(n, str) and isinstance(w, int | float))
    return _Parsed(float(written) if isinstance(written, int | float) else None, parse_tables(data.get("tables")),
                   held)


def parse_tables(tables: Any) -> Tables:
    """[{"kind", "route", "counts"}, ...] as written, keeping what is well formed."""
    out: Tables = []
    for row in tables if isinstance(tables, list) else ():
        if not isinstance(row, dict):
            continue
        kind, route, counts = row.get("kind"), row.get("route"), row.get("counts")
        if isinstance(kind, str) and isinstance(route, str) and isinstance(counts, dict):
            out.append(((kind, route), {v: c for v, c in counts.items() if isinstance(v, str) and type(c) is int}))
    return out


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
                merge_into(tables, key, counts)
            absorbed = {(n, w) for n, w in merged_file.absorbed if (directory / n).exists()}
            for path in candidates:
                file = _read(path)
                if (path.name, file.written) in merged_file.absorbed:
                    continue  # merged already: a merge stopped before it removed the file
                for key, counts in file.tables:
                    merge_into(tables, key, counts)
                if file.written is not None:
                    absorbed.add((path.name, file.written))
            rows = [{"kind": kind, "route": route, "counts": top_k(counts, k)}
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
