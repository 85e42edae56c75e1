"""Giving freed memory back to the system (glibc's `malloc_trim`), after work that frees a lot at once.

glibc keeps what a thread frees in that thread's arena and returns only the top of the heap by itself, so a
worker that once built a large answer (a scrape at 50,000 series, a decoded image) keeps that memory in
its RSS for good, though it is free. `malloc_trim(0)` hands the free pages back (madvise), in a few ms.
Elsewhere than glibc (musl, macOS) there is nothing to call, and `trim` does nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        # The symbols already loaded into the process (the C library among them): no library search.
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to call
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


def trim() -> bool:
    """Return the heap's free pages to the system; True when the C library could (glibc)."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
