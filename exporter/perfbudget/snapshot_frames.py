"""The summary's minute frames as values: a frame's counts per vital and route with their sum over the routes,
a lookup's head, and a frame's blob (compressed JSON; a delta is the difference from its hour's keyframe).

snapshots.SnapshotStore keeps them, in SQLite or the shared database.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from operator import add, sub

import orjson

#: vital -> route -> counts per bucket (not cumulative), +Inf last.
Rows = dict[str, dict[str, list[int]]]

Totals = dict[str, list[int]]  # vital -> counts per bucket over every route
Ladder = dict[str, tuple[float, ...]]  # vital -> a run's bucket edges


def totals_of(rows: Rows) -> Totals:
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
            self.totals = totals_of(self.rows)

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


def encode(rows: Rows) -> bytes:
    return zlib.compress(orjson.dumps(rows), 6)


def decode(blob: bytes) -> Rows:
    rows: Rows = orjson.loads(zlib.decompress(blob))
    return rows


def difference(rows: Rows, base: Rows) -> Rows | None:
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


def apply_delta(base: Rows, delta: Rows) -> Rows:
    out = {vital: dict(by_route) for vital, by_route in base.items()}
    for vital, by_route in delta.items():
        target = out.setdefault(vital, {})
        for route, counts in by_route.items():
            old = target.get(route)
            target[route] = counts if old is None else list(map(add, old, counts))
    return out
