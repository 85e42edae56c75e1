"""The attribution top-K's tables: a Space-Saving counter per (kind, route), the merge of many workers' tables,
and what a place that keeps every worker's tables (attribution_files: a file each under data_dir;
attribution_db: a row each in the shared database) offers attribution.AttributionStore.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

#: The page URLs seen per route (page_urls.SiteUrls cleans them first): the summary's `pageUrl`.
PAGE_URL = "page.url"

Table = dict[str, int]
TableKey = tuple[str, str]  # (kind, route)
Tables = list[tuple[TableKey, Table]]

K = TypeVar("K")


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


def merge_into(target: dict[K, Table], key: K, counts: Table) -> None:
    """Add `counts` to target[key] (the merge of Space-Saving tables: counts of one value add up)."""
    table = target.setdefault(key, {})
    for value, count in counts.items():
        table[value] = table.get(value, 0) + count


def top_k(counts: Table, k: int) -> Table:
    """The `k` largest counts (ties by value), what a merged table keeps."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k])


class Index:
    """Every worker's tables merged, per kind and route and per kind over all routes."""

    def __init__(self) -> None:
        self.by_route: dict[TableKey, Table] = {}
        self.by_kind: dict[str, Table] = {}
        self.pages_now: dict[str, Table] = {}  # per route, the page URLs of the live workers' tables (not merged)

    def add(self, key: TableKey, counts: Table, current: bool = False) -> None:
        merge_into(self.by_route, key, counts)
        merge_into(self.by_kind, key[0], counts)
        if current and key[0] == PAGE_URL:
            merge_into(self.pages_now, key[1], counts)


class WorkerTables(Protocol):
    """Where every worker's tables are kept: this worker's written, the others' (and past workers') read."""

    def index(self) -> Index:
        """Every other worker's tables and the merge of past workers', merged (`current` for live workers')."""
        ...

    def write(self, tables: Tables) -> None:
        """Replace this worker's tables with `tables` (raises OSError or a database error: kept for the next)."""
        ...

    def touch(self) -> None:
        """Say this worker is alive, its tables unchanged."""
        ...

    def merge_past(self, k: int, stale_seconds: float) -> int:
        """Merge the tables of past workers (gone, or silent for `stale_seconds`) into one top-k per table
        and remove theirs; how many workers' were merged."""
        ...
