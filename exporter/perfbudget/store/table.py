"""The writer's side of the store: one slab per process, a slot per label tuple, cheap observers.

Each process writes only its own slab, so slot allocation and writes need no cross-process lock. The
threads of a worker share the slab under one process-local `threading.Lock` (held for four word
stores). benchmarks/store.py measures the lock at about 6% of an observation (1.14 against 1.07 us
for the lock-free, thread-local variant); a slab per thread would save that but multiply, by the
threads per worker, the slabs and the memory every scrape reads, and reading is half a scrape.

Seqlock, per histogram series. The writer, under the process lock::

    seq += 1 (odd)   bucket[i] += 1   sum += value   seq += 1 (even)

and a reader accepts a slot when it read the same even seq before and after the values and the buckets
add up to seq / 2 (else it retries, see read.py). Each step is one Python-level store through a
memoryview, one aligned 8-byte machine store (single-copy atomic: a word is never torn) in a C call of
its own, which the C compiler cannot move across the next. On x86-64 (TSO) stores become visible in
program order and loads are not reordered with loads, so this is the textbook seqlock: a scrape sees
each series as it was between two observations. aarch64 may reorder plain stores and loads, and
CPython gives Python code no fence: there count == +Inf bucket and monotone buckets still hold on
every read (the reader derives both from the bucket words it read, and a word only grows), the total
check catches most mixed reads, and the pairing of the sum with the buckets is best effort: a missed
mixed read is off by the observations that landed during the copy, and the next scrape is exact.

A process must open its table after it forked: an observer made before a fork would write, from the
child, into the parent's slab (the mapping is shared). `observer()` refuses a table of another pid.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from .layout import OVERFLOW_OFFSET, USED_OFFSET, FamilySpec, Labels, Layout, Region, encode_key
from .slab import Slab

Observer = Callable[[float], None]


class Increment(Protocol):
    def __call__(self, amount: float = 1.0) -> None: ...


class _Family:
    """Slot allocation for one family in this process's slab."""

    def __init__(self, writer: _Writer, region: Region) -> None:
        self.spec = region.spec
        self._writer = writer
        self._region = region
        self._slots: dict[Labels, int] = {}
        self._used_word = (region.entry_offset + USED_OFFSET) // 8
        self._overflow_word = (region.entry_offset + OVERFLOW_OFFSET) // 8
        self._words = self.spec.slot_words
        for labels in self.spec.reserved:
            self._slot(labels)

    def _slot(self, labels: Labels) -> int | None:
        """The word index of the series' first value word, or None (counted) when every slot is taken."""
        slot = self._slots.get(labels)
        if slot is None:
            key = encode_key(self.spec, labels)
            slab = self._writer.slab
            with self._writer.lock:
                slot = self._slots.get(labels)
                if slot is None:
                    used = len(self._slots)
                    if used >= self._region.capacity:
                        slab.q[self._overflow_word] += 1
                        return None
                    start = self._region.offset + used * self._region.key_bytes
                    slab.buf[start : start + len(key)] = key
                    slab.q[self._used_word] = used + 1  # publishes the key: stored after it
                    slot = self._slots[labels] = used
        return self._region.values_offset // 8 + slot * self._words


class Histogram(_Family):
    def __init__(self, writer: _Writer, region: Region) -> None:
        super().__init__(writer, region)
        self._observers: dict[Labels, Observer] = {}
        # One list of edges for every series of the family (bisect wants a list: a tuple is slower to search);
        # a copy per observer cost 300 bytes a series, 15 MB a worker at 50,000 series.
        self._edges = list(self.spec.buckets)

    def observer(self, labels: Sequence[str]) -> Observer | None:
        """The `observe(value)` of one series, or None once the family's slots are all taken (the
        refusal is counted; observe the caller's overflow labels instead, reserved in the spec)."""
        key = tuple(labels)
        found = self._observers.get(key)
        if found is not None:
            return found
        self._writer.check_pid()
        base = self._slot(key)
        if base is None:
            return None
        q, d, lock = self._writer.slab.q, self._writer.slab.d, self._writer.lock
        edges = self._edges
        first = base + 1
        total = base + self._words - 1

        def observe(value: float) -> None:
            i = first + bisect_left(edges, value)  # le: value <= edge
            with lock:
                q[base] += 1
                q[i] += 1
                d[total] += value
                q[base] += 1

        self._observers[key] = observe
        return observe


class Counter(_Family):
    def __init__(self, writer: _Writer, region: Region) -> None:
        super().__init__(writer, region)
        self._increments: dict[Labels, Increment] = {}

    def incrementer(self, labels: Sequence[str]) -> Increment | None:
        """The `inc(amount=1.0)` of one series, or None once the family's slots are all taken (counted)."""
        key = tuple(labels)
        found = self._increments.get(key)
        if found is not None:
            return found
        self._writer.check_pid()
        word = self._slot(key)
        if word is None:
            return None
        d, lock = self._writer.slab.d, self._writer.lock

        def inc(amount: float = 1.0) -> None:
            if amount < 0:
                raise ValueError("counters can only be incremented by non-negative amounts")
            with lock:
                d[word] += amount

        self._increments[key] = inc
        return inc


class _Writer:
    """This process's slab, made on first use, with the lock its threads share."""

    def __init__(self, layout: Layout, directory: Path | None, epoch: int) -> None:
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.slab = Slab.create(layout, directory, epoch)

    def check_pid(self) -> None:
        if os.getpid() != self.pid:
            raise RuntimeError(
                f"store table opened in pid {self.pid} is used in pid {os.getpid()}: open it in each worker"
            )


class Table:
    """The store as one process writes it: `histogram(name)` and `counter(name)` hand out series.

    `directory` is the server's multiprocess directory (None: an anonymous slab, visible to this
    process only, for the development server and tests). `epoch` names the server run; readers ignore
    slabs of another run. The slab is created on the first handle, in the process that will write it.
    """

    def __init__(self, families: Sequence[FamilySpec], directory: Path | None = None, *, epoch: int = 0) -> None:
        self.layout = Layout(families)
        self.directory = directory
        self.epoch = epoch
        self._writer: _Writer | None = None
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()

    @property
    def slab(self) -> Slab:
        """This process's slab (created now if it was not yet)."""
        return self._open().slab

    @property
    def local_slab(self) -> Slab | None:
        """This process's slab if it has one (a reader-only process has none)."""
        writer = self._writer
        return writer.slab if writer is not None and writer.pid == os.getpid() else None

    def histogram(self, name: str) -> Histogram:
        family = self._family(name, "histogram")
        assert isinstance(family, Histogram)
        return family

    def counter(self, name: str) -> Counter:
        family = self._family(name, "counter")
        assert isinstance(family, Counter)
        return family

    def close(self) -> None:
        """Unmap this process's slab (the file stays, its counts keep counting)."""
        if self._writer is not None:
            self._writer.slab.close()

    def _family(self, name: str, kind: str) -> _Family:
        family = self._families.get(name)
        if family is not None:
            return family
        spec = self.layout.spec(name)
        if spec.kind != kind:
            raise ValueError(f"{name} is a {spec.kind}, not a {kind}")
        writer = self._open()
        with self._lock:
            family = self._families.get(name)
            if family is None:
                region = self.layout.regions[list(self.layout.families).index(name)]
                family = self._families[name] = _KINDS[spec.kind](writer, region)
        return family

    def _open(self) -> _Writer:
        with self._lock:
            if self._writer is None:
                self._writer = _Writer(self.layout, self.directory, self.epoch)
            return self._writer


_KINDS: Mapping[str, Callable[[_Writer, Region], _Family]] = {"histogram": Histogram, "counter": Counter}
