"""Remember which (id, metric) pairs were observed, across workers, so each page view is counted once.

web-vitals reports CLS and INP again with the same id on a later hide, and sendBeacon retries can repeat a
whole batch: a histogram cannot take those as new observations. The table is open addressing over a shared
mmap of 16-byte slots (8-byte fingerprint, 8-byte expiry). A lookup probes a short run of slots; when all are
live, the one expiring first is replaced, so memory is fixed and the oldest memories go first.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from hashlib import blake2b
from pathlib import Path

from .shm import SharedBuffer

_SLOT = struct.Struct("<QQ")
_PROBES = 8


def fingerprint(metric_id: str, name: str) -> int:
    digest = blake2b(f"{name}\x00{metric_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") | 1  # 0 marks an empty slot


class SeenTable:
    def __init__(self, slots: int, ttl_seconds: int, path: Path | None = None) -> None:
        self.slots = 1 << max(10, (slots - 1).bit_length())  # a power of two, for masking
        self.ttl = ttl_seconds
        self._mem = SharedBuffer(self.slots * _SLOT.size, path)

    def first_sightings(self, fingerprints: Sequence[int], now: float | None = None) -> list[bool]:
        """For each fingerprint, True if it was not seen within the TTL (and remember it now)."""
        now_s = int(time.time() if now is None else now)
        expiry = now_s + self.ttl
        mask = self.slots - 1
        unpack, pack, size = _SLOT.unpack_from, _SLOT.pack_into, _SLOT.size
        out = []
        with self._mem.locked() as buf:
            for fp in fingerprints:
                home = fp & mask
                victim = -1
                victim_expiry = 1 << 64
                seen = False
                for step in range(_PROBES):
                    offset = ((home + step) & mask) * size
                    slot_fp, slot_expiry = unpack(buf, offset)
                    if slot_fp == fp and slot_expiry > now_s:
                        seen = True
                        break
                    live = slot_fp != 0 and slot_expiry > now_s
                    key = slot_expiry if live else -1
                    if key < victim_expiry:
                        victim, victim_expiry = offset, key
                if not seen:
                    pack(buf, victim, fp, expiry)
                out.append(not seen)
        return out

    def close(self) -> None:
        self._mem.close()
