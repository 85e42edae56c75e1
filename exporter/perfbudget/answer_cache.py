"""Answers of the anonymous read endpoints, kept a few seconds and shared by every worker of a run.

An answer is reused for `ttl` seconds while the data it was computed from stays the same (its `generation`,
such as the count of accepted reports, is unchanged), and for at most BUSY_TTL while new data arrives: an
idle exporter answers exactly what it holds, a busy one computes each answer about once a second, not once
per request.

One file per key in a directory of the run (the multiprocess directory): the time it was computed and its
generation on the first line, the answer's bytes after it. A reader that finds a fresh file uses it; one
that does not takes
the key's lock (`flock`, so workers and threads alike wait for each other), looks again (a sibling may
have computed it meanwhile) and only then computes and writes it (a temporary file renamed over the old,
so nobody reads half an answer). Without a directory (one process, the development server, tests that
build the app in-process) nothing is cached.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

_PRUNE_ABOVE = 256  # files in the directory before the stale ones are removed
BUSY_TTL = 1.0


class AnswerCache:
    def __init__(self, directory: Path | None, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self._dir = directory
        self._clock = clock
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def get(self, key: str, generation: int, compute: Callable[[], bytes]) -> tuple[bytes, bool]:
        """(the answer for `key`, whether it came from the cache); `compute` runs at most once per key for all
        workers together while the answer is fresh."""
        if self.ttl <= 0 or self._dir is None:
            return compute(), False
        name = hashlib.sha256(key.encode()).hexdigest()[:24]
        path = self._dir / f"{name}.answer"
        fresh = self._read(path, generation)
        if fresh is not None:
            return fresh, True
        with open(self._dir / f"{name}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                fresh = self._read(path, generation)
                if fresh is not None:
                    return fresh, True
                body = compute()
                self._write(path, generation, body)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return body, False

    def _fresh(self, written: float, of: int, generation: int) -> bool:
        age = self._clock() - written
        same = of == generation and generation >= 0  # a negative generation: unknown, so maybe changed
        return 0 <= age < (self.ttl if same else min(self.ttl, BUSY_TTL))

    def _read(self, path: Path, generation: int) -> bytes | None:
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        head, sep, body = raw.partition(b"\n")
        try:
            stamp, of = head.split(b" ")
            written, of_generation = float(stamp), int(of)
        except ValueError:
            return None
        return body if sep and self._fresh(written, of_generation, generation) else None

    def _write(self, path: Path, generation: int, body: bytes) -> None:
        assert self._dir is not None
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_bytes(f"{self._clock()!r} {generation}\n".encode() + body)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk costs the cache, not the answer
            return
        self._prune()

    def _prune(self) -> None:
        """Keys are (window, route) of what readers ask: bounded, but many; stale files go past a few hundred."""
        assert self._dir is not None
        try:
            entries = list(os.scandir(self._dir))
        except OSError:
            return
        if len(entries) <= _PRUNE_ABOVE:
            return
        horizon = time.time() - max(60.0, 10 * self.ttl)
        for entry in entries:
            try:
                if entry.stat().st_mtime < horizon:
                    os.unlink(entry.path)
            except OSError:
                continue
