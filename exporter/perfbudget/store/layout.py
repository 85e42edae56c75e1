"""The fixed layout of a slab: what a family is, where its series live, how bytes map to numbers.

A slab is one writer's file (or anonymous mapping). Every number is a native 8-byte word, 8-byte
aligned, so one Python-level read or write through `memoryview.cast("Q")` / `cast("d")` is one
machine load or store (single-copy atomic on x86-64 and aarch64)::

    offset  size  header (64 bytes)
    0       8     magic b"PBSTORE\\0"
    8       4     layout version (VERSION)
    12      4     header bytes (up to the first family region)
    16      8     run epoch (slabs of another run are ignored)
    24      8     writer pid
    32      8     creation time, ns since the Unix epoch
    40      16    specs hash: blake2b-128 over every family hash, in order
    56      4     number of families
    60      4     zero

    then one 128-byte directory entry per family:
    0       64    family name, UTF-8, zero padded
    64      16    family hash: blake2b-128 of kind, name, label names, bucket edges
    80      8     region offset in the slab (page aligned)
    88      8     capacity: series slots in this slab
    96      4     key bytes per slot
    100     4     value words per slot
    104     8     used: slots published so far (written last, after the key)
    112     8     overflow: series refused because every slot was taken
    120     8     zero

A family region holds `capacity` keys (`key_bytes` each: per label value one length byte and its
UTF-8) and then `capacity` value slots. A histogram slot with E edges is E + 3 words: the seqlock
word (even when quiet, +2 per observation, so it is also twice the count), E + 1 non-cumulative
bucket counts (uint64, the last one +Inf) and the sum (float64): 280 bytes for 32 edges, plus the key
(256 bytes by default). A counter slot is one float64 word: an aligned store is never torn, so it
needs no seqlock.
"""

from __future__ import annotations

import hashlib
import math
import mmap
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

MAGIC = b"PBSTORE\0"
VERSION = 1
PAGE = mmap.PAGESIZE
HEADER = struct.Struct("=8sIIQQQ16sII")
ENTRY = struct.Struct("=64s16sQQIIQQ8x")
USED_OFFSET = 104  # within an entry
OVERFLOW_OFFSET = 112
MAX_NAME_BYTES = 64
MAX_LABEL_VALUE_BYTES = 255

Kind = Literal["histogram", "counter"]
Labels = tuple[str, ...]

_METRIC_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True, slots=True)
class FamilySpec:
    """One metric family of the store: its exposition and its slot geometry in every slab.

    `reserved` label tuples get their slot when a slab is created, so a caller's overflow series
    (route="other", per device) can never be refused.
    """

    name: str
    documentation: str
    kind: Kind
    labelnames: tuple[str, ...]
    buckets: tuple[float, ...] = ()
    capacity: int = 4096
    key_bytes: int = 256
    reserved: tuple[Labels, ...] = field(default=())

    @classmethod
    def histogram(
        cls,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        *,
        capacity: int = 4096,
        key_bytes: int = 256,
        reserved: Sequence[Sequence[str]] = (),
    ) -> FamilySpec:
        return cls(name, documentation, "histogram", tuple(labelnames), tuple(float(b) for b in buckets),
                   capacity, key_bytes, tuple(tuple(r) for r in reserved))

    @classmethod
    def counter(
        cls,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        *,
        capacity: int = 256,
        key_bytes: int = 128,
        reserved: Sequence[Sequence[str]] = (),
    ) -> FamilySpec:
        return cls(name, documentation, "counter", tuple(labelnames), (), capacity, key_bytes,
                   tuple(tuple(r) for r in reserved))

    def __post_init__(self) -> None:
        if not _METRIC_NAME.fullmatch(self.name) or len(self.name.encode()) > MAX_NAME_BYTES:
            raise ValueError(f"{self.name!r}: not a metric name of at most {MAX_NAME_BYTES} bytes")
        for label in self.labelnames:
            if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"{self.name}: {label!r} is not a valid label name")
        if len(set(self.labelnames)) != len(self.labelnames):
            raise ValueError(f"{self.name}: duplicate label names {self.labelnames}")
        if self.kind == "histogram":
            if "le" in self.labelnames:
                raise ValueError(f"{self.name}: 'le' is reserved for the bucket label")
            if not self.buckets:
                raise ValueError(f"{self.name}: a histogram needs at least one bucket edge")
            if any(not math.isfinite(b) for b in self.buckets):
                raise ValueError(f"{self.name}: bucket edges must be finite (+Inf is implicit)")
            if any(a >= b for a, b in zip(self.buckets, self.buckets[1:], strict=False)):
                raise ValueError(f"{self.name}: buckets not in strictly increasing order")
        elif self.kind == "counter":
            if not self.name.endswith("_total"):
                raise ValueError(f"{self.name}: a counter's name ends in _total")
            if self.buckets:
                raise ValueError(f"{self.name}: a counter has no buckets")
        else:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not histogram or counter")
        if self.key_bytes % 8 or not 8 <= self.key_bytes <= 4096:
            raise ValueError(f"{self.name}: key_bytes {self.key_bytes} must be a multiple of 8 in 8..4096")
        if not 1 <= self.capacity <= 1 << 24:
            raise ValueError(f"{self.name}: capacity {self.capacity} must be in 1..{1 << 24}")
        if len(self.reserved) > self.capacity:
            raise ValueError(f"{self.name}: {len(self.reserved)} reserved series exceed capacity {self.capacity}")
        for labels in self.reserved:
            encode_key(self, labels)  # fails fast on a wrong arity or a key that does not fit

    @property
    def slot_words(self) -> int:
        """Value words per series: seqlock + E+1 buckets + sum, or one counter word."""
        return len(self.buckets) + 3 if self.kind == "histogram" else 1

    @property
    def digest(self) -> bytes:
        """What a reader must agree on to add this family's numbers to its own (not the capacity)."""
        canonical = "\0".join(
            [self.kind, self.name, ",".join(self.labelnames), ",".join(b.hex() for b in self.buckets)]
        )
        return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class Region:
    """Where one family's keys and value slots start in a slab (byte offsets)."""

    spec: FamilySpec
    index: int  # position in the directory
    offset: int
    capacity: int
    key_bytes: int

    @property
    def values_offset(self) -> int:
        return self.offset + self.capacity * self.key_bytes

    @property
    def size(self) -> int:
        return _round_up(self.capacity * (self.key_bytes + 8 * self.spec.slot_words), PAGE)

    @property
    def entry_offset(self) -> int:
        return HEADER.size + self.index * ENTRY.size


class Layout:
    """The families of a store, in order, and the byte layout a new slab gets for them."""

    def __init__(self, families: Sequence[FamilySpec]) -> None:
        names = [f.name for f in families]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate family names in {names}")
        self.families: dict[str, FamilySpec] = {f.name: f for f in families}
        self.header_bytes = _round_up(HEADER.size + ENTRY.size * len(families), PAGE)
        self.regions: list[Region] = []
        offset = self.header_bytes
        for index, spec in enumerate(families):
            region = Region(spec, index, offset, spec.capacity, spec.key_bytes)
            self.regions.append(region)
            offset += region.size
        self.size = offset
        self.specs_hash = hashlib.blake2b(b"".join(f.digest for f in families), digest_size=16).digest()

    def spec(self, name: str) -> FamilySpec:
        try:
            return self.families[name]
        except KeyError:
            raise ValueError(f"{name!r} is not a family of this store ({', '.join(self.families)})") from None


def encode_key(spec: FamilySpec, labels: Sequence[str]) -> bytes:
    """Label values as stored in a key: per value one length byte and its UTF-8, zero padded."""
    if len(labels) != len(spec.labelnames):
        raise ValueError(f"{spec.name}: {len(labels)} label values for labels {spec.labelnames}")
    parts = []
    for value in labels:
        raw = value.encode()
        if len(raw) > MAX_LABEL_VALUE_BYTES:
            raise ValueError(f"{spec.name}: label value of {len(raw)} bytes (at most {MAX_LABEL_VALUE_BYTES})")
        parts.append(bytes((len(raw),)) + raw)
    key = b"".join(parts)
    if len(key) > spec.key_bytes:
        raise ValueError(f"{spec.name}: labels {tuple(labels)} take {len(key)} bytes, the key has {spec.key_bytes}")
    return key


def decode_key(raw: bytes | memoryview, arity: int) -> Labels:
    values = []
    pos = 0
    for _ in range(arity):
        length = raw[pos]
        values.append(bytes(raw[pos + 1 : pos + 1 + length]).decode(errors="replace"))
        pos += 1 + length
    return tuple(values)


def _round_up(n: int, to: int) -> int:
    return -(-n // to) * to
