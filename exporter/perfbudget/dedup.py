"""Remember which (id, metric) pairs were observed, across workers, so each page view is counted once.

web-vitals reports CLS and INP again with the same id on a later hide, and sendBeacon retries can repeat a
whole batch: a histogram cannot take those as new observations. The table is open addressing over a shared
mmap of 16-byte slots (8-byte fingerprint, 8-byte expiry). A lookup reads a run of slots in one unpack;
a slot never becomes empty again once used, so an empty slot ends the run. When every slot of the run is
live, the one expiring first is replaced, so memory is fixed and the oldest memories go first.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from hashlib import blake2b
from pathlib import Path

from .shm import SharedBuffer

_PROBES = 8
_SLOT = struct.Struct("<QQ")
_RUN = struct.Struct(f"<{2 * _PROBES}Q")


def fingerprint(metric_id: str, name: str) -> int:
    digest = blake2b(f"{name}\x00{metric_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") | 1  # 0 marks an empty slot


class SeenTable:
    def __init__(self, slots: int, ttl_seconds: int, path: Path | None = None) -> None:
        self.slots = 1 << max(10, (slots - 1).bit_length())  # a power of two, for masking
        self.ttl = ttl_seconds
        # _PROBES spare slots past the end, so a run never wraps around and is read in one unpack.
        self._mem = SharedBuffer((self.slots + _PROBES) * _SLOT.size, path)

    def first_sightings(self, fingerprints: Sequence[int], now: float | None = None) -> list[bool]:
        """For each fingerprint, True if it was not seen within the TTL (and remember it now)."""
        now_s = int(time.time() if now is None else now)
        expiry = now_s + self.ttl
        mask = self.slots - 1
        size = _SLOT.size
        unpack_run, pack = _RUN.unpack_from, _SLOT.pack_into
        out = []
        with self._mem.locked() as buf:
            for fp in fingerprints:
                base = (fp & mask) * size
                run = unpack_run(buf, base)
                seen = False
                victim = -1
                victim_expiry = 1 << 64
                for i in range(0, 2 * _PROBES, 2):
                    slot_fp = run[i]
                    if slot_fp == 0:  # never used: nothing further along the run either
                        if victim < 0 or victim_expiry >= 0:
                            victim = i
                        break
                    slot_expiry = run[i + 1]
                    if slot_expiry <= now_s:  # expired: reusable, but the key may still be further on
                        if victim_expiry >= 0:
                            victim, victim_expiry = i, -1
                        continue
                    if slot_fp == fp:
                        seen = True
                        break
                    if slot_expiry < victim_expiry:
                        victim, victim_expiry = i, slot_expiry
                if not seen:
                    pack(buf, base + (victim // 2) * size, fp, expiry)
                out.append(not seen)
        return out

    def close(self) -> None:
        self._mem.close()
