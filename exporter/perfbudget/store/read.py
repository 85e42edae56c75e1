"""The reader's side of the store: every slab of this run, each series consistent, summed per label tuple.

A reader maps every `store-*.slab` of the directory read-only (the table's own anonymous slab when
there is no directory), once, and keeps the decoded keys (append-only per slab). A slab of another run
(epoch), layout version or file format is refused, a family whose hash differs (other bucket edges,
labels or kind) is ignored, each with one logged warning naming the file and the reason.

Per family and slab a read is: the seqlock words, one copy of the value slots, the seqlock words again.
A slot is taken from the copy when its seq is even, the same in all three and twice the sum of its
buckets; else it is re-read alone until it is (its writer is mid-observation). A slot whose writer
died mid-observation stays odd: it is taken as it is, so a killed worker loses at most that one.
"""

from __future__ import annotations

import logging
import os
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

    def keys(self, name: str, used: int) -> list[Labels]:
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
                cached.append(labels)
            else:
                fresh.append(labels)
        return cached + fresh if fresh else cached

    def used(self, name: str) -> int:
        region = self.regions[name]
        return min(int(self.slab.q[(region.entry_offset + USED_OFFSET) // 8]), region.capacity)

    def overflow(self, name: str) -> int:
        return int(self.slab.q[(self.regions[name].entry_offset + OVERFLOW_OFFSET) // 8])


class Reader:
    """Reads what every writer of the table's directory (or the table itself) has counted."""

    def __init__(self, table: Table) -> None:
        self.layout = table.layout
        self._table = table
        self._views: dict[str, _View] = {}
        self._refused: set[str] = set()
        self._warned: set[tuple[str, str]] = set()
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
            return [view]
        try:
            names = sorted(e.name for e in os.scandir(directory)
                           if e.name.startswith(PREFIX) and e.name.endswith(SUFFIX))
        except OSError as exc:
            log.warning("store: cannot list %s: %s", directory, exc.strerror)
            return []
        for gone in set(self._views) - set(names):
            self._views.pop(gone).slab.close()
        self._refused &= set(names)
        for name in names:
            if name not in self._views and name not in self._refused:
                self._open(Path(directory) / name)
        return [self._views[name] for name in names if name in self._views]

    def close(self) -> None:
        with self._lock:
            for view in self._views.values():
                if view.slab is not self._table.local_slab:
                    view.slab.close()
            self._views.clear()

    def _open(self, path: Path) -> None:
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
        region = view.regions[spec.name]
        slab = view.slab
        used = view.used(spec.name)
        keys = view.keys(spec.name, used)
        words = spec.slot_words
        start = region.values_offset // 8
        if spec.kind == "counter":
            values = slab.d[start : start + used].tolist()
            for labels, value in zip(keys, values, strict=True):
                if all(labels[p] == v for p, v in wanted):
                    yield labels, [value]
            return
        seqs = slab.q[start : start + used * words : words]
        before = seqs.tolist()
        raw = slab.buf[region.values_offset : region.values_offset + used * words * 8]
        after = seqs.tolist()
        seqs.release()
        ints = cast(Row, memoryview(raw).cast("Q").tolist())
        sums = memoryview(raw).cast("d")[words - 1 :: words].tolist()
        n = words - 2
        for i, labels in enumerate(keys):
            if wanted and not all(labels[p] == v for p, v in wanted):
                continue
            b = i * words
            seq = before[i]
            counts: Row = ints[b + 1 : b + 1 + n]
            if seq != after[i] or seq != ints[b] or seq & 1 or sum(counts) * 2 != seq:
                counts, total = _settle(slab, start + b, n)
            else:
                total = sums[i]
            counts.append(total)
            yield labels, counts


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


def _matcher(spec: FamilySpec, match: Mapping[str, str] | None) -> list[tuple[int, str]]:
    if not match:
        return []
    unknown = set(match) - set(spec.labelnames)
    if unknown:
        raise ValueError(f"{spec.name} has no label {', '.join(sorted(unknown))} (labels: {spec.labelnames})")
    return [(spec.labelnames.index(k), v) for k, v in match.items()]
