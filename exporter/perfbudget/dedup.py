"""Remember which (id, metric) pairs were observed, across workers, so each page view is counted once.

web-vitals reports CLS and INP again with the same id on a later hide, and sendBeacon retries can repeat a
whole batch: a histogram cannot take those as new observations. The table is open addressing over a shared
mmap of 8-byte slots: the pair's 42-bit tag (the bits of its 64-bit fingerprint above the low 22; the low
bits index the table, so at least 38 tag bits are independent of the slot, and two pairs in one run of
slots share a tag once in 30 billion lookups) and its 22-bit expiry, in seconds modulo 2**22 (48 days). A
slot is live while its expiry is at most the TTL (7 days at most) ahead of now; one left unused for 41
days and more could look live again for a while, which only makes it a less likely victim.
A lookup reads a run of 8 slots, one cache line, in one unpack; a slot never becomes empty again once
used, so an empty slot ends the run. When every slot of the run is live, the one expiring first is
replaced, so memory is fixed and the oldest memories go first. 8 bytes a slot is 8 MiB for the default
million slots, half of what a fingerprint and an expiry of 8 bytes each took: every page of the table is
touched within minutes of traffic, in every worker's RSS.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from hashlib import blake2b
from pathlib import Path

from .shm import SharedBuffer

_PROBES = 8
_SLOT = struct.Struct("<Q")
_RUN = struct.Struct(f"<{_PROBES}Q")
_EXPIRY_BITS = 22
_EXPIRY_MASK = (1 << _EXPIRY_BITS) - 1
#: The longest TTL (config.beacons caps dedup_ttl_seconds at it): well inside the expiry's 48-day wrap.
MAX_TTL_SECONDS = 7 * 86400


def fingerprint(metric_id: str, name: str) -> int:
    """The pair's 64-bit fingerprint: its low bits pick the slot, its high bits are the tag kept there."""
    return int.from_bytes(blake2b(f"{name}\x00{metric_id}".encode(), digest_size=8).digest(), "little")


class SeenTable:
    def __init__(self, slots: int, ttl_seconds: int, path: Path | None = None) -> None:
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"the dedup TTL must be between 1 and {MAX_TTL_SECONDS} seconds, not {ttl_seconds}")
        self.slots = 1 << max(10, (slots - 1).bit_length())  # a power of two, for masking
        self.ttl = ttl_seconds
        # _PROBES spare slots past the end, so a run never wraps around and is read in one unpack.
        self._mem = SharedBuffer((self.slots + _PROBES) * _SLOT.size, path)

    def first_sightings(self, fingerprints: Sequence[int], now: float | None = None) -> list[bool]:
        """For each fingerprint, True if it was not seen within the TTL (and remember it now)."""
        now_s = int(time.time() if now is None else now)
        ttl = self.ttl
        stamp = (now_s + ttl) & _EXPIRY_MASK
        mask = self.slots - 1
        # Outside the lock: where each run starts, and the slot value that records the pair now.
        wanted = [((fp & mask) * 8, (fp >> _EXPIRY_BITS) | 1) for fp in fingerprints]  # a tag is never 0
        unpack_run, pack = _RUN.unpack_from, _SLOT.pack_into
        out = []
        with self._mem.locked() as buf:
            for base, tag in wanted:
                run = unpack_run(buf, base)
                seen = False
                victim = -1
                victim_left = ttl + 1  # seconds the victim had left: an expired slot has none
                for i in range(_PROBES):
                    slot = run[i]
                    if slot == 0:  # never used: nothing further along the run either
                        if victim < 0 or victim_left > 0:
                            victim = i
                        break
                    left = ((slot & _EXPIRY_MASK) - now_s) & _EXPIRY_MASK
                    if not 0 < left <= ttl:  # expired: reusable, but the pair may still be further on
                        if victim_left > 0:
                            victim, victim_left = i, 0
                        continue
                    if slot >> _EXPIRY_BITS == tag:
                        seen = True
                        break
                    if left < victim_left:
                        victim, victim_left = i, left
                if not seen:
                    pack(buf, base + victim * 8, (tag << _EXPIRY_BITS) | stamp)
                out.append(not seen)
        return out

    def close(self) -> None:
        self._mem.close()
