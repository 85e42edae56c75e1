"""Writer processes for the concurrency tests (spawned: a module importable without the test's fixtures)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from perfbudget.store import FamilySpec, Table

# Values a consistent read can check: a series' sum is 0.5 x (its le=0.5 count) + 2 x (the rest).
LOW, HIGH = 0.5, 2.0
ROUTES = tuple(f"/r{i}" for i in range(4))


def specs() -> list[FamilySpec]:
    return [FamilySpec.histogram("perfbudget_lcp_seconds", "LCP.", ("route", "device"), (0.1, 0.5, 1.0, 2.5),
                                 capacity=16)]


def write(directory: str, threads: int, per_thread: int) -> None:
    """Every thread observes `per_thread` times into each route, alternating LOW and HIGH."""
    table = Table(specs(), Path(directory))
    hist = table.histogram("perfbudget_lcp_seconds")

    def run() -> None:
        observers = [hist.observer((route, "phone")) for route in ROUTES]
        for i in range(per_thread):
            for observe in observers:
                assert observe is not None
                observe(LOW if i % 2 else HIGH)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def write_until_killed(directory: str, threads: int, done: Any) -> None:
    """Observe forever; after each completed observation, count it in the shared `done` array (one slot
    per thread), so the test knows what the writer finished before SIGKILL."""
    table = Table(specs(), Path(directory))
    observe = table.histogram("perfbudget_lcp_seconds").observer(("/", "phone"))
    assert observe is not None

    def run(slot: int) -> None:
        n = 0
        while True:
            observe(HIGH)
            n += 1
            done[slot] = n

    workers = [threading.Thread(target=run, args=(slot,), daemon=True) for slot in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
