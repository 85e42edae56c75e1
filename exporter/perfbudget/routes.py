"""Page URL -> a bounded route label.

Route labels are the one label a page URL can influence, so they are bounded three ways: configured
patterns map whole families of paths to one template, unmatched paths have id-like segments collapsed to
`:id`, and a hard cap on distinct values (shared by every worker) sends the rest to `other`.
"""

from __future__ import annotations

import mmap
import re
import struct
from pathlib import Path
from urllib.parse import urlsplit

from .config.routes import MAX_ROUTE_LABEL_BYTES, RoutesConfig, patterns_regex
from .shm import SharedBuffer

OTHER = "other"
UNKNOWN_ROUTE = "unknown"
MAX_ROUTE_BYTES = MAX_ROUTE_LABEL_BYTES
_LOCAL_CACHE_LIMIT = 16_384

# Path segments that identify one thing rather than a kind of page: numbers, UUIDs, hashes, long tokens
# with digits, e-mail-like strings.
_ID_SEGMENT = re.compile(
    r"\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{12,}"
    r"|(?=[^/]*\d)[A-Za-z0-9_-]{16,}|[^/@]+@[^/]+"
)


def url_path(url: str) -> str:
    """The path of a URL or path, without query string or fragment; '/' when there is none."""
    if not url.startswith("/"):
        scheme = url.find("://")
        if scheme <= 0 or not url[:scheme].isalpha():
            try:
                return urlsplit(url).path or "/"
            except ValueError:
                return "/"
        start = url.find("/", scheme + 3)
        if start < 0:
            return "/"
        url = url[start:]
    elif url.startswith("//"):
        start = url.find("/", 2)
        url = url[start:] if start >= 0 else "/"
    for mark in ("?", "#"):
        cut = url.find(mark)
        if cut >= 0:
            url = url[:cut]
    return url or "/"


class RouteTable:
    """Every admitted route label, shared by the workers through a small mmap file."""

    _HEADER = struct.Struct("<I")
    _ENTRY = 128  # 1 length byte + up to MAX_ROUTE_BYTES of UTF-8, padded

    def __init__(self, max_routes: int, path: Path | None = None) -> None:
        self.max_routes = max_routes
        self._mem = SharedBuffer(self._HEADER.size + max_routes * self._ENTRY, path)
        self._known: set[str] = set()

    def admit(self, route: str) -> bool:
        """True if `route` is (now) one of the admitted labels; False once the cap is reached."""
        if route in self._known:
            return True
        encoded = route.encode()
        if len(encoded) > MAX_ROUTE_BYTES:
            return False  # cannot be stored: counted as an overflow like any route over the cap
        with self._mem.locked() as buf:
            count = self._count(buf)
            self._known.update(self._read(buf, len(self._known), count))
            if route in self._known:
                return True
            if count >= self.max_routes:
                return False
            offset = self._HEADER.size + count * self._ENTRY
            buf[offset] = len(encoded)
            buf[offset + 1 : offset + 1 + len(encoded)] = encoded
            self._HEADER.pack_into(buf, 0, count + 1)
        self._known.add(route)
        return True

    def routes(self) -> list[str]:
        with self._mem.locked() as buf:
            return list(self._read(buf, 0, self._count(buf)))

    def _count(self, buf: memoryview | mmap.mmap) -> int:
        # A file written by workers with a larger cap (before a reload lowered it) may say more.
        (count,) = self._HEADER.unpack_from(buf, 0)
        return min(int(count), self.max_routes)

    def _read(self, buf: memoryview | mmap.mmap, start: int, count: int) -> list[str]:
        out = []
        for i in range(start, count):
            offset = self._HEADER.size + i * self._ENTRY
            length = buf[offset]
            out.append(bytes(buf[offset + 1 : offset + 1 + length]).decode())
        return out


class RouteNormalizer:
    def __init__(self, config: RoutesConfig, table: RouteTable) -> None:
        self._table = table
        self._unmatched_other = config.unmatched == "other"
        self._labels = [pattern.template or pattern.route or "" for pattern in config.patterns]
        # One compiled alternation: a path is matched once, whatever the number of patterns.
        self._patterns = re.compile(patterns_regex(config.patterns)) if config.patterns else None
        self._cache: dict[str, str] = {}

    def route(self, page_url: str | None) -> tuple[str, bool]:
        """(route label, overflowed) for a page URL; unknown when the beacon named no page."""
        if not page_url:
            return UNKNOWN_ROUTE, False
        path = url_path(page_url)
        label = self._cache.get(path)
        if label is None:
            label = self._label(path)
            if len(self._cache) >= _LOCAL_CACHE_LIMIT:
                self._cache.clear()  # bounded: a flood of distinct URLs cannot grow it
            self._cache[path] = label
        if label == OTHER or self._table.admit(label):
            return label, False
        return OTHER, True

    def known_routes(self) -> list[str]:
        """Every route label admitted so far (shared by the workers)."""
        return self._table.routes()

    def lookup(self, page: str) -> str:
        """The label for a `?page=` filter, without admitting anything: a known label as given, else the
        label its path maps to."""
        if page in self._table.routes() or page in (OTHER, UNKNOWN_ROUTE):
            return page
        return self._label(url_path(page))

    def _label(self, path: str) -> str:
        if self._patterns is not None:
            match = self._patterns.fullmatch(path)
            if match is not None and match.lastgroup is not None:
                return self._labels[int(match.lastgroup[1:])]
        if self._unmatched_other:
            return OTHER
        return collapse(path)


def collapse(path: str) -> str:
    """`/orders/12345/items/` -> `/orders/:id/items`: id-like segments folded, trailing slash dropped."""
    segments = [":id" if _ID_SEGMENT.fullmatch(seg) else seg for seg in path.split("/")]
    route = "/".join(segments).rstrip("/") or "/"
    if len(route.encode()) > MAX_ROUTE_BYTES:
        return OTHER
    return route
