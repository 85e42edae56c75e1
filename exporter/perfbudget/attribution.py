"""Which LCP images, INP targets and scripts, and CLS shift targets the beacons blame most, per route.

These are unbounded strings (URLs, CSS selectors), so they never become metric labels. Each worker keeps
a Space-Saving top-K per (kind, route) in memory (fixed size however many distinct values arrive) and
writes it to `data_dir/attribution/<pid>.json` every few seconds; readers merge every worker's file,
and the files survive restarts, so what was reported is not lost when the exporter restarts.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from .routes import url_path

KINDS = ("lcp.url", "lcp.target", "inp.target", "inp.script", "cls.target")
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


class AttributionStore:
    def __init__(self, directory: Path | None, k: int, flush_seconds: float = 5.0) -> None:
        self.k = k
        self._dir = directory
        self._tables: dict[tuple[str, str], SpaceSaving] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self._flush_seconds = flush_seconds
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

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

    def top(self, kind: str, route: str | None = None, limit: int | None = None) -> list[tuple[str, int]]:
        """Most-blamed values of `kind` on `route` (every route when None), merged across workers."""
        merged: dict[str, int] = {}
        for (k, r), counts in self._all_tables():
            if k == kind and (route is None or r == route):
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

    def _all_tables(self) -> Iterable[tuple[tuple[str, str], dict[str, int]]]:
        with self._lock:
            mine = [(key, dict(table.counts)) for key, table in self._tables.items()]
        yield from mine
        if self._dir is None or not self._dir.is_dir():
            return
        own = self._file().name
        for path in self._dir.glob("*.json"):
            if path.name == own:
                continue
            yield from _read_tables(path)

    def _file(self) -> Path:
        assert self._dir is not None
        return self._dir / f"{os.getpid()}.json"

    def flush(self) -> None:
        if self._dir is None or not self._dirty:
            return
        with self._lock:
            rows = [{"kind": k, "route": r, "counts": t.counts.copy()} for (k, r), t in self._tables.items()]
            self._dirty = False
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            target = self._file()
            tmp = target.with_suffix(".tmp")
            tmp.write_text(json.dumps({"written": time.time(), "tables": rows}))
            os.replace(tmp, target)
        except OSError:
            self._dirty = True  # the next flush writes it, new reports or not
            raise

    def start(self) -> None:
        if self._dir is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="perfbudget-attribution", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            try:
                self.flush()
            except OSError:
                pass  # a full disk must not kill the thread; the next flush retries

    def close(self) -> None:
        self._stop.set()
        self.flush()


def _read_tables(path: Path) -> Iterator[tuple[tuple[str, str], dict[str, int]]]:
    """The tables of one worker file; a file being replaced, damaged or foreign yields what is well formed."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    tables = data.get("tables") if isinstance(data, dict) else None
    for row in tables if isinstance(tables, list) else ():
        if not isinstance(row, dict):
            continue
        kind, route, counts = row.get("kind"), row.get("route"), row.get("counts")
        if isinstance(kind, str) and isinstance(route, str) and isinstance(counts, dict):
            yield (kind, route), {v: c for v, c in counts.items() if isinstance(v, str) and type(c) is int}


def compact(directory: Path, k: int) -> None:
    """Merge every worker file of earlier runs into one top-k per table, so files do not pile up."""
    if not directory.is_dir():
        return
    merged: dict[tuple[str, str], dict[str, int]] = {}
    files = sorted(directory.glob("*.json"))
    for path in files:
        for key, counts in _read_tables(path):
            table = merged.setdefault(key, {})
            for value, count in counts.items():
                table[value] = table.get(value, 0) + count
    rows = [
        {"kind": kind, "route": route, "counts": dict(sorted(counts.items(), key=lambda kv: -kv[1])[:k])}
        for (kind, route), counts in merged.items()
    ]
    tmp = directory / "merged.tmp"
    tmp.write_text(json.dumps({"written": time.time(), "tables": rows}))
    os.replace(tmp, directory / "merged.json")
    for path in files:
        if path.name != "merged.json":
            path.unlink(missing_ok=True)
