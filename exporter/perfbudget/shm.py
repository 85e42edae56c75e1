"""A fixed-size memory-mapped file shared by the server's worker processes, with an exclusive lock.

Dedup and the route cap must hold across workers: a CLS update for a page view can reach another worker
than its first report, and every worker must agree on which routes were admitted. Each structure lives in a
file in the multiprocess directory; `flock` serialises the few microseconds of read-modify-write. Without a
directory (the development server, tests) the mapping is anonymous and the lock is a no-op.
"""

from __future__ import annotations

import fcntl
import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class SharedBuffer:
    def __init__(self, size: int, path: Path | None = None) -> None:
        self.size = size
        self._fd: int | None = None
        if path is None:
            self.buf = mmap.mmap(-1, size)
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)  # sparse: untouched pages cost no memory
        self._fd = fd
        self.buf = mmap.mmap(fd, size)

    @contextmanager
    def locked(self) -> Iterator[memoryview | mmap.mmap]:
        if self._fd is None:
            yield self.buf
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield self.buf
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.buf.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
