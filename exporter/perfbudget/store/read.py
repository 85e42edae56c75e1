"""The reader's side of the store: every slab of this run, each series consistent, summed per label tuple.

A reader maps every `store-*.slab` of the directory read-only (its table's own slab it reads through
the table's mapping, not a second one; the anonymous slab when there is no directory), once, and keeps
the decoded keys (append-only per slab): one label tuple per distinct series, shared by every slab and
family that has it, its values interned, all decoded at the start of a read, before its transient work,
so the long-lived keys fill pymalloc arenas of their own instead of pinning the arenas a scrape's
transient objects free (glibc's malloc_trim cannot return an arena that holds one live object).
A slab of another run (epoch), layout version or file format is refused, a family whose hash differs
(other bucket edges, labels or kind) is ignored, each with one logged warning naming the file and the reason.

Per family and slab a read is: the seqlock words, one copy of the value slots (one bytes object, read
through memoryviews: no Python number per bucket for the whole family), the seqlock words again.
A slot is taken from the copy when its seq is even, the same in all three and twice the sum of its
buckets; else it is re-read alone until it is (its writer is mid-observation). A slot whose writer
died mid-observation stays odd: it is taken as it is, so a killed worker loses at most that one.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate
from operator import add
from pathlib import Path
from typing import cast

from ..processes import pid_alive
from .layout import OVERFLOW_OFFSET, USED_OFFSET, FamilySpec, Labels, Region, decode_key
from .slab import PREFIX, SUFFIX, Slab, SlabError
from .table import Table

log = logging.getLogger(__name__)

#: Raw merged values of one series: histogram [bucket counts (non-cumulative, +Inf last)..., sum];
#: counter [value].
Row = list[float]
_SETTLE_ATTEMPTS = 200


@dataclass(frozen=True, slots=True)
class HistogramSeries:
    """One histogram series summed over every slab."""

    buckets: list[float]  # cumulative counts (exact integers), one per bucket edge, then +Inf
    sum: float

    @property
    def count(self) -> float:
        return self.buckets[-1]


class _View:
    """One slab as this reader uses it: the families it shares with the reader, their decoded keys."""

    def __init__(self, slab: Slab, regions: dict[str, Region]) -> None:
        self.slab = slab
        self.regions = regions
        self._keys: dict[str, list[Labels]] = {name: [] for name in regions}

    def cached(self) -> Iterator[Labels]:
        for keys in self._keys.values():
            yield from keys

    def sync(self, canon: dict[Labels, Labels]) -> None:
        """Decode the keys written since the last read, of every family (long-lived: before any transient work)."""
        for name in self.regions:
            self.keys(name, self.used(name), canon)

    def keys(self, name: str, used: int, canon: dict[Labels, Labels]) -> list[Labels]:
        cached = self._keys[name]
        if len(cached) >= used:
            return cached if len(cached) == used else cached[:used]
        region = self.regions[name]
        arity = len(region.spec.labelnames)
        fresh: list[Labels] = []
        for i in range(len(cached), used):
            start = region.offset + i * region.key_bytes
            raw = self.slab.buf[start : start + region.key_bytes]
            labels = decode_key(raw, arity)
            # A weakly ordered CPU may show `used` before the key bytes: from an all-zero key on, the
            # keys are decoded again next time rather than cached.
            if not fresh and (arity == 0 or raw.count(0) != len(raw)):
                shared = canon.get(labels)
                if shared is None:  # a series first seen: one tuple for every slab and family, values interned
                    shared = tuple(map(sys.intern, labels))
                    canon[shared] = shared
                cached.append(shared)
            else:
                fresh.append(labels)
        return cached + fresh if fresh else cached

    def used(self, name: str) -> int:
        region = self.regions[name]
        return min(int(self.slab.q[(region.entry_offset + USED_OFFSET) // 8]), region.capacity)

    def overflow(self, name: str) -> int:
        return int(self.slab.q[(self.regions[name].entry_offset + OVERFLOW_OFFSET) // 8])


class _Slots:
    """One family's value slots of one slab, copied at once and read through memoryviews of the copy. A
    histogram slot is checked when it is read (the seqlock) and, when its writer was mid-observation,
    re-read alone from the slab."""

    __slots__ = ("after", "before", "d", "n", "q", "slab", "start", "words")

    def __init__(self, view: _View, spec: FamilySpec, used: int) -> None:
        self.slab = view.slab
        offset = view.regions[spec.name].values_offset
        self.words = words = spec.slot_words
        self.n = words - 2
        self.start = offset // 8
        if spec.kind == "counter":
            self.d = memoryview(self.slab.buf[offset : offset + used * 8]).cast("d")
            return
        seqs = self.slab.q[self.start : self.start + used * words : words]
        self.before = memoryview(seqs.tobytes()).cast("Q")
        raw = self.slab.buf[offset : offset + used * words * 8]
        self.after = memoryview(seqs.tobytes()).cast("Q")
        seqs.release()
        self.q = memoryview(raw).cast("Q")
        self.d = memoryview(raw).cast("d")

    def row(self, i: int) -> Row:
        """Slot i as a row: its bucket counts (non-cumulative, +Inf last), then its sum."""
        b = i * self.words
        seq = self.q[b]
        row: Row = cast(Row, self.q[b + 1 : b + 1 + self.n].tolist())  # counts: ints, a float row's prefix
        total = self.d[b + self.words - 1]
        if seq != self.before[i] or seq != self.after[i] or seq & 1 or sum(row) * 2 != seq:
            row, total = self._settle(i, row, total)
        row.append(total)
        return row

    def cumulative(self, i: int) -> tuple[tuple[int, ...], float]:
        """Slot i's cumulative bucket counts (+Inf last) and its sum."""
        b = i * self.words
        seq = self.q[b]
        counts = tuple(accumulate(self.q[b + 1 : b + 1 + self.n]))
        total = self.d[b + self.words - 1]
        if seq != self.before[i] or seq != self.after[i] or seq & 1 or counts[-1] * 2 != seq:
            row, total = self._settle(i, cast(Row, self.q[b + 1 : b + 1 + self.n].tolist()), total)
            return tuple(int(c) for c in accumulate(row)), total
        return counts, total

    def counter(self, i: int) -> float:
        return self.d[i]

    def _settle(self, i: int, row: Row, total: float) -> tuple[Row, float]:
        try:
            return _settle(self.slab, self.start + i * self.words, self.n)
        except ValueError:  # the slab vanished (closed) since the copy: the copy as it is
            return row, total


class Series:
    """One family's series summed over every slab, sorted by label values, read a series at a time (the
    exposition's read): no row of Python numbers per series for the whole family, only the slabs' copies."""

    def __init__(self, spec: FamilySpec, copies: list[_Slots], where: dict[Labels, int | list[int]]) -> None:
        self.spec = spec
        self.labels = sorted(where)
        self._copies = copies
        self._where = where

    def __len__(self) -> int:
        return len(self.labels)

    def histograms(self, start: int, stop: int) -> Iterator[tuple[Labels, tuple[int, ...], float]]:
        """(labels, cumulative bucket counts (+Inf last), sum) of the sorted series start..stop."""
        copies, where = self._copies, self._where
        for labels in self.labels[start:stop]:
            at = where[labels]
            if isinstance(at, int):
                counts, total = copies[at >> 24].cumulative(at & _SLOT)
                yield labels, counts, total
                continue
            counts, total = copies[at[0] >> 24].cumulative(at[0] & _SLOT)
            for other in at[1:]:  # in slab order, as `rows` adds them: the same float sums
                more, extra = copies[other >> 24].cumulative(other & _SLOT)
                counts = tuple(map(add, counts, more))
                total = total + extra
            yield labels, counts, total

    def counters(self, start: int, stop: int) -> Iterator[tuple[Labels, float]]:
        copies, where = self._copies, self._where
        for labels in self.labels[start:stop]:
            at = where[labels]
            locations = [at] if isinstance(at, int) else at
            value = copies[locations[0] >> 24].counter(locations[0] & _SLOT)
            for other in locations[1:]:
                value = value + copies[other >> 24].counter(other & _SLOT)
            yield labels, value


_SLOT = (1 << 24) - 1  # a slot index in a location (capacity is at most 1 << 24); the copy's index above


class Reader:
    """Reads what every writer of the table's directory (or the table itself) has counted."""

    def __init__(self, table: Table) -> None:
        self.layout = table.layout
        self._table = table
        self._views: dict[str, _View] = {}
        self._refused: set[str] = set()
        self._warned: set[tuple[str, str]] = set()
        self._canon: dict[Labels, Labels] = {}  # every cached key once, shared by slabs and families
        self._lock = threading.Lock()  # scrapes in several threads of a worker share the mappings

    def rows(self, name: str, match: Mapping[str, str] | None = None) -> dict[Labels, Row]:
        """Raw values per label tuple (non-cumulative buckets), summed over every slab, unsorted."""
        spec = self.layout.spec(name)
        wanted = _matcher(spec, match)
        merged: dict[Labels, Row] = {}
        with self._lock:
            for view in self._refresh():
                if name not in view.regions:
                    continue
                for labels, row in self._slab_rows(view, spec, wanted):
                    acc = merged.get(labels)
                    merged[labels] = row if acc is None else list(map(add, acc, row))
        return merged

    def sums(self, name: str, label: str) -> dict[str, Row]:
        """Raw values summed per value of one label, over every other label and every slab: one pass, without
        the per-series table `rows` builds (the summary's live read at 10,000 series)."""
        spec = self.layout.spec(name)
        if label not in spec.labelnames:
            raise ValueError(f"{name} has no label {label} (labels: {spec.labelnames})")
        position = spec.labelnames.index(label)
        out: dict[str, Row] = {}
        with self._lock:
            for view in self._refresh():
                if name not in view.regions:
                    continue
                for labels, row in self._slab_rows(view, spec, []):
                    key = labels[position]
                    acc = out.get(key)
                    out[key] = row if acc is None else list(map(add, acc, row))
        return out

    def series(self, name: str) -> Series:
        """A family's series summed over every slab, sorted, values read on demand (what the exposition renders)."""
        spec = self.layout.spec(name)
        copies: list[_Slots] = []
        where: dict[Labels, int | list[int]] = {}
        with self._lock:
            for view in self._refresh():
                if name not in view.regions:
                    continue
                used = view.used(name)
                keys = view.keys(name, used, self._canon)
                base = len(copies) << 24
                copies.append(_Slots(view, spec, len(keys)))
                for i, labels in enumerate(keys):
                    at = where.get(labels)
                    if at is None:
                        where[labels] = base | i
                    elif isinstance(at, int):
                        where[labels] = [at, base | i]
                    else:
                        at.append(base | i)
        return Series(spec, copies, where)

    def read(self, name: str, match: Mapping[str, str] | None = None) -> dict[Labels, HistogramSeries]:
        """A histogram's series whose labels equal every `match` value, sorted by label values."""
        if self.layout.spec(name).kind != "histogram":
            raise ValueError(f"{name} is not a histogram (read_counter reads counters)")
        rows = self.rows(name, match)
        return {labels: HistogramSeries(list(accumulate(row[:-1])), float(row[-1]))
                for labels, row in sorted(rows.items())}

    def read_counter(self, name: str, match: Mapping[str, str] | None = None) -> dict[Labels, float]:
        if self.layout.spec(name).kind != "counter":
            raise ValueError(f"{name} is not a counter")
        return {labels: float(row[0]) for labels, row in sorted(self.rows(name, match).items())}

    def overflows(self) -> dict[str, int]:
        """Per family, the series refused because their slab's slots were all taken."""
        out = dict.fromkeys(self.layout.families, 0)
        with self._lock:
            for view in self._refresh():
                for name in view.regions:
                    out[name] += view.overflow(name)
        return out

    def slabs(self) -> list[str]:
        """The slabs read now (file names, or the anonymous slab's description)."""
        with self._lock:
            return [view.slab.label for view in self._refresh()]

    def _refresh(self) -> list[_View]:
        """The slabs to read now: new files mapped, vanished ones dropped."""
        directory = self._table.directory
        if directory is None:
            slab = self._table.local_slab
            if slab is None:
                return []
            view = self._views.get("")
            if view is None or view.slab is not slab:
                view = self._views[""] = self._view(slab)
                self._canon = {}
            view.sync(self._canon)
            return [view]
        try:
            names = sorted(e.name for e in os.scandir(directory)
                           if e.name.startswith(PREFIX) and e.name.endswith(SUFFIX))
        except OSError as exc:
            log.warning("store: cannot list %s: %s", directory, exc.strerror)
            return []
        gone = set(self._views) - set(names)
        for name in gone:
            slab = self._views.pop(name).slab
            if slab is not self._table.local_slab:
                slab.close()
        for name in [name for name, view in self._views.items() if not _mapped(view.slab)]:
            del self._views[name]  # its own slab, closed by its table: the file is mapped again below
            gone.add(name)
        if gone:  # the keys only the dropped slabs had go too
            self._canon = {labels: labels for view in self._views.values() for labels in view.cached()}
        self._refused &= set(names)
        for name in names:
            if name not in self._views and name not in self._refused:
                self._open(Path(directory) / name)
        views = [self._views[name] for name in names if name in self._views]
        for view in views:
            view.sync(self._canon)
        return views

    def close(self) -> None:
        with self._lock:
            for view in self._views.values():
                if view.slab is not self._table.local_slab:
                    view.slab.close()
            self._views.clear()

    def _open(self, path: Path) -> None:
        own = self._table.local_slab
        if own is not None and own.path == path and _mapped(own):  # this process's slab: its mapping, not another
            self._views[path.name] = self._view(own)
            return
        try:
            slab = Slab.open(path)
            if slab.epoch != self._table.epoch:
                slab.close()
                raise SlabError(f"run epoch {slab.epoch}, this run is epoch {self._table.epoch}")
        except SlabError as exc:
            self._refused.add(path.name)
            log.warning("store: slab %s: ignored: %s", path, exc)
            return
        self._views[path.name] = self._view(slab)

    def _view(self, slab: Slab) -> _View:
        regions = {}
        for spec in self.layout.families.values():
            entry = slab.entries.get(spec.name)
            if entry is None:
                continue  # a family this slab's writer did not have: nothing of it to add
            if entry.digest != spec.digest or entry.slot_words != spec.slot_words:
                if (slab.label, spec.name) not in self._warned:
                    self._warned.add((slab.label, spec.name))
                    log.warning("store: slab %s: family %s has another layout (bucket edges, labels or kind "
                                "differ from this reader's): its series are ignored", slab.label, spec.name)
                continue
            regions[spec.name] = entry.region(spec)
        return _View(slab, regions)

    def _slab_rows(self, view: _View, spec: FamilySpec, wanted: list[tuple[int, str]]) -> Iterator[tuple[Labels, Row]]:
        keys = view.keys(spec.name, view.used(spec.name), self._canon)
        slots = _Slots(view, spec, len(keys))
        for i, labels in enumerate(keys):
            if wanted and not all(labels[p] == v for p, v in wanted):
                continue
            yield labels, [slots.counter(i)] if spec.kind == "counter" else slots.row(i)


def _settle(slab: Slab, base: int, n: int) -> tuple[Row, float]:
    """Re-read one histogram slot until it is quiet; as it is if its writer is dead or never settles."""
    q, d = slab.q, slab.d
    dead: bool | None = None
    counts: Row = []
    total = 0.0
    for attempt in range(_SETTLE_ATTEMPTS):
        seq = q[base]
        counts = cast(Row, q[base + 1 : base + 1 + n].tolist())
        total = d[base + 1 + n]
        if seq == q[base] and not seq & 1 and sum(counts) * 2 == seq:
            return counts, total
        if dead is None:
            dead = not pid_alive(slab.pid)
        if dead:
            return counts, total  # died mid-observation: the slot stays as it is
        time.sleep(0 if attempt < 20 else 0.0002)
    log.debug("store: %s: a slot stayed busy for %d reads; taken as it is", slab.label, _SETTLE_ATTEMPTS)
    return counts, total


def _mapped(slab: Slab) -> bool:
    try:
        return slab.q.nbytes > 0  # released when the slab is closed
    except ValueError:
        return False


def _matcher(spec: FamilySpec, match: Mapping[str, str] | None) -> list[tuple[int, str]]:
    if not match:
        return []
    unknown = set(match) - set(spec.labelnames)
    if unknown:
        raise ValueError(f"{spec.name} has no label {', '.join(sorted(unknown))} (labels: {spec.labelnames})")
    return [(spec.labelnames.index(k), v) for k, v in match.items()]
