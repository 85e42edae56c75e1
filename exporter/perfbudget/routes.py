"""Page URL -> a bounded route label.

Route labels are the one label a page URL can influence, so they are bounded three ways: configured
patterns map whole families of paths to one template, unmatched paths have id-like segments collapsed to
`:id`, and a hard cap on distinct values (shared by every worker) sends the rest to `other`.
"""

from __future__ import annotations

import mmap
import re
import struct
from collections.abc import Sequence
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
    """Every admitted route label, shared by the workers through a small mmap file.

    The configured routes (`reserved`: every pattern's label) are admitted at start, in every worker from
    the same configuration, and hold the first slots: they are never in the shared file, so no flood of
    unmatched paths can crowd them out. Unmatched paths compete for what is left of `max_routes`, first come
    first served across workers (the file); a respawned worker maps the same file and sees the same table.
    Each label has a stable slot number (reserved first, then the file's order), which the distinct-clients
    sketch uses as its row; `other` and `unknown` take the two slots after `max_routes`.
    """

    _HEADER = struct.Struct("<I")
    _ENTRY = 128  # 1 length byte + up to MAX_ROUTE_BYTES of UTF-8, padded

    def __init__(self, max_routes: int, path: Path | None = None, reserved: Sequence[str] = ()) -> None:
        reserved = list(dict.fromkeys(reserved))
        if len(reserved) > max_routes:
            raise ValueError(f"{len(reserved)} configured routes do not fit in max_routes {max_routes}")
        self.max_routes = max_routes
        self._reserved = reserved
        self._capacity = max_routes - len(reserved)  # what unmatched paths share
        self._mem = SharedBuffer(self._HEADER.size + max(self._capacity, 1) * self._ENTRY, path)
        self._index: dict[str, int] = {route: i for i, route in enumerate(reserved)}
        self._index.update({OTHER: max_routes, UNKNOWN_ROUTE: max_routes + 1})
        self._read_upto = 0  # entries of the file already in _index

    @property
    def slots(self) -> int:
        """Slot numbers run from 0 to slots - 1: max_routes labels, then other and unknown."""
        return self.max_routes + 2

    def admit(self, route: str) -> bool:
        """True if `route` is (now) one of the admitted labels; False once the cap is reached."""
        if route in self._index:
            return True
        encoded = route.encode()
        if len(encoded) > MAX_ROUTE_BYTES:
            return False  # cannot be stored: counted as an overflow like any route over the cap
        with self._mem.locked() as buf:
            count = self._sync(buf)
            if route in self._index:
                return True
            if count >= self._capacity:
                return False
            offset = self._HEADER.size + count * self._ENTRY
            buf[offset] = len(encoded)
            buf[offset + 1 : offset + 1 + len(encoded)] = encoded
            self._HEADER.pack_into(buf, 0, count + 1)
            self._sync(buf)
        return True

    def slot(self, route: str) -> int | None:
        """The slot number of an admitted label (this process's view), None for one never admitted."""
        return self._index.get(route)

    def routes(self) -> list[str]:
        """Every admitted label: the configured ones, then the file's."""
        with self._mem.locked() as buf:
            shared = self._read(buf, 0, self._count(buf))
        return [*self._reserved, *(route for route in shared if route not in self._reserved)]

    def slotted(self) -> list[tuple[str, int]]:
        """(label, slot) for every admitted label, other and unknown included."""
        with self._mem.locked() as buf:
            self._sync(buf)
        return list(self._index.items())

    def _sync(self, buf: memoryview | mmap.mmap) -> int:
        """Bring _index up to the file; the file's entry count."""
        count = self._count(buf)
        base = len(self._reserved)
        for i, route in enumerate(self._read(buf, self._read_upto, count), start=self._read_upto):
            # A label reserved now but admitted from the file before a reload keeps its reserved slot.
            self._index.setdefault(route, base + i)
        self._read_upto = count
        return count

    def _count(self, buf: memoryview | mmap.mmap) -> int:
        # A file written by workers with a larger cap (before a reload lowered it) may say more.
        (count,) = self._HEADER.unpack_from(buf, 0)
        return min(int(count), self._capacity)

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

    def slot(self, label: str) -> int | None:
        """The route table's slot for a label `route` returned (None only for one it never returned)."""
        return self._table.slot(label)

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
