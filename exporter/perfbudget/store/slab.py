"""A slab: one writer's mapping of the store layout, as a file in the multiprocess directory or anonymous.

A writer creates its slab under a temporary name, writes the header and directory, then renames it to
`store-<pid>-<ns>.slab`: a reader never sees a half-written header. The file is sparse (pages no
series touched cost nothing) and is never deleted by its writer, so the counts of a worker that died
keep counting until the directory is wiped at the next server start.
"""

from __future__ import annotations

import mmap
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .layout import ENTRY, HEADER, MAGIC, VERSION, FamilySpec, Layout, Region

PREFIX = "store-"
SUFFIX = ".slab"


class SlabError(Exception):
    """A file that is not a readable slab of this layout version; the message says why."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One family as a slab's directory describes it."""

    name: str
    digest: bytes
    offset: int
    capacity: int
    key_bytes: int
    slot_words: int
    index: int

    def region(self, spec: FamilySpec) -> Region:
        return Region(spec, self.index, self.offset, self.capacity, self.key_bytes)


class Slab:
    """A mapped slab with its header fields; `q` and `d` view the whole mapping as uint64 and float64."""

    def __init__(self, buf: mmap.mmap, path: Path | None, epoch: int, pid: int, specs_hash: bytes,
                 entries: list[Entry]) -> None:
        self.buf = buf
        self.path = path
        self.epoch = epoch
        self.pid = pid
        self.specs_hash = specs_hash
        self.entries = {e.name: e for e in entries}
        self.q = memoryview(buf).cast("Q")
        self.d = memoryview(buf).cast("d")

    @property
    def label(self) -> str:
        return self.path.name if self.path is not None else f"anonymous slab of pid {self.pid}"

    @classmethod
    def create(cls, layout: Layout, directory: Path | None, epoch: int) -> Slab:
        """A new, empty slab for this process to write."""
        pid = os.getpid()
        now = time.time_ns()
        path: Path | None = None
        if directory is None:
            buf = mmap.mmap(-1, layout.size)
        else:
            path = directory / f"{PREFIX}{pid}-{now}{SUFFIX}"
            temporary = directory / f".{PREFIX}{pid}-{now}.tmp"
            fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.ftruncate(fd, layout.size)  # sparse
                buf = mmap.mmap(fd, layout.size)
            finally:
                os.close(fd)
        HEADER.pack_into(buf, 0, MAGIC, VERSION, layout.header_bytes, epoch, pid, now, layout.specs_hash,
                         len(layout.regions), 0)
        entries = []
        for region in layout.regions:
            spec = region.spec
            ENTRY.pack_into(buf, region.entry_offset, spec.name.encode(), spec.digest, region.offset,
                            region.capacity, region.key_bytes, spec.slot_words, 0, 0)
            entries.append(Entry(spec.name, spec.digest, region.offset, region.capacity, region.key_bytes,
                                 spec.slot_words, region.index))
        if path is not None:
            buf.flush()
            os.rename(temporary, path)
        return cls(buf, path, epoch, pid, layout.specs_hash, entries)

    @classmethod
    def open(cls, path: Path) -> Slab:
        """Map another writer's slab read-only; SlabError says why a file is not one."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise SlabError(f"cannot open: {exc.strerror}") from exc
        try:
            size = os.fstat(fd).st_size
            if size < HEADER.size:
                raise SlabError(f"{size} bytes, shorter than a header")
            buf = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise SlabError(f"cannot map: {exc}") from exc
        finally:
            os.close(fd)
        try:
            magic, version, header_bytes, epoch, pid, _, specs_hash, count, _ = HEADER.unpack_from(buf, 0)
            if magic != MAGIC:
                raise SlabError("not a perfbudget store slab (bad magic)")
            if version != VERSION:
                raise SlabError(f"layout version {version}, this reader knows version {VERSION}")
            if HEADER.size + count * ENTRY.size > min(size, header_bytes):
                raise SlabError(f"directory of {count} families does not fit a {header_bytes}-byte header")
            entries = []
            for index in range(count):
                name, digest, offset, capacity, key_bytes, words, _, _ = ENTRY.unpack_from(
                    buf, HEADER.size + index * ENTRY.size)
                entry = Entry(name.rstrip(b"\0").decode(errors="replace"), digest, offset, capacity, key_bytes,
                              words, index)
                end = offset + capacity * (key_bytes + 8 * words)
                if offset % 8 or key_bytes % 8 or offset < header_bytes or end > size:
                    raise SlabError(f"family {entry.name}: region {offset}..{end} outside the {size}-byte file")
                entries.append(entry)
        except SlabError:
            buf.close()
            raise
        return cls(buf, path, epoch, pid, specs_hash, entries)

    def close(self) -> None:
        self.q.release()
        self.d.release()
        try:
            self.buf.close()
        except BufferError:
            pass  # an observer still holds a view; the mapping goes with it
