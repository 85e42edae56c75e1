"""The bounded wait of `POST /api/perf-fix`: answer with the result when the run ends soon, else a 202 at once.

A run is executed by whichever worker claims it from the audit log, in this process or another one. A run
this process executes ends with a signal (`Completions`, set by the runner): the wait wakes at once. A run
another process executes is seen by reading the audit log every `poll` seconds while waiting.

The wait must not reopen the slow-client hole: each waiting request holds one request thread, so
    - it never waits past `playbooks.answer_wait_seconds` (the thread is back then, whatever the run does),
    - at most `slots` requests wait at once per process (`playbooks.answer_waiters`, never more than the
      request threads less one): the others get their 202 without waiting, and a thread is always left
      for `/-/healthy`, the scrape and the console.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..config.model import Config
from .records import TERMINAL, Run
from .store import Store

#: How often a wait reads the audit log for a run another process executes.
POLL_SECONDS = 0.2
#: Run ids remembered as ended, so a run that ends between reading the log and waiting is not missed.
REMEMBERED = 256


class Completions:
    """Run ends in this process: the runner calls `ended`, waiters wake."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._ended: OrderedDict[str, None] = OrderedDict()

    def ended(self, run_id: str) -> None:
        with self._cond:
            self._ended[run_id] = None
            while len(self._ended) > REMEMBERED:
                self._ended.popitem(last=False)
            self._cond.notify_all()

    def wait(self, run_id: str, timeout: float) -> bool:
        """Whether `run_id` ended in this process (up to `timeout` seconds)."""
        with self._cond:
            return self._cond.wait_for(lambda: run_id in self._ended, timeout)


def request_threads(config: Config) -> int:
    """The threads that answer requests in one worker process (gunicorn's sync worker has one)."""
    return 1 if config.server.server == "gunicorn" else config.server.threads


def waiter_slots(config: Config) -> int:
    """How many answers may wait at once per process: `playbooks.answer_waiters`, at most the request threads
    less one (0 with a single thread: a wait there would stop every other request)."""
    if config.playbooks.answer_wait_seconds <= 0:
        return 0
    return max(0, min(config.playbooks.answer_waiters, request_threads(config) - 1))


@dataclass(frozen=True)
class Waited:
    """What a wait gave: the run as last read (None when it left the log), whether the answer waited (it had
    a slot), for how long, and why it answers now."""

    run: Run | None
    waited: bool
    reason: str
    seconds: float = 0.0

    @property
    def ended(self) -> bool:
        return self.run is not None and self.run.state in TERMINAL

    def to_json(self) -> dict[str, Any]:
        return {"waited": self.waited, "seconds": round(self.seconds, 1), "reason": self.reason}


class AnswerWaiters:
    """Up to `slots` bounded waits at once for runs to end; `seconds` 0 or no slot: no wait at all."""

    def __init__(self, store: Store, completions: Completions, *, seconds: float, slots: int,
                 poll: float = POLL_SECONDS) -> None:
        self._store = store
        self._completions = completions
        self.seconds = seconds
        self.slots = slots
        self._poll = poll
        self._free = threading.BoundedSemaphore(slots) if slots > 0 else None
        self._lock = threading.Lock()
        self._waiting = 0

    @classmethod
    def for_config(cls, config: Config, store: Store, completions: Completions) -> AnswerWaiters:
        return cls(store, completions, seconds=config.playbooks.answer_wait_seconds, slots=waiter_slots(config))

    @property
    def waiting(self) -> int:
        """Requests waiting now in this process."""
        return self._waiting

    def wait(self, run: Run) -> Waited:
        """`run` once it ended, or as it is when the wait is over; at once (unchanged) when no slot is free."""
        if run.state in TERMINAL:
            return Waited(run, False, "the run had ended already")
        if self._free is None:
            why = ("playbooks.answer_wait_seconds is 0" if self.seconds <= 0 else
                   "no answer waits in this process: it has one request thread (server.threads), kept for "
                   "every other request")
            return Waited(run, False, why)
        if not self._free.acquire(blocking=False):
            return Waited(run, False, f"{self.slots} answer(s) are waiting already in this worker process "
                                      "(playbooks.answer_waiters): poll the run")
        with self._lock:
            self._waiting += 1
        started = time.monotonic()
        try:
            current = self._until_ended(run.id)
        finally:
            with self._lock:
                self._waiting -= 1
            self._free.release()
        took = time.monotonic() - started
        if current is not None and current.state in TERMINAL:
            return Waited(current, True, "the run ended", took)
        return Waited(current, True, f"the run had not ended after playbooks.answer_wait_seconds "
                                     f"({self.seconds:g} s): poll it", took)

    def _until_ended(self, run_id: str) -> Run | None:
        deadline = time.monotonic() + self.seconds
        while True:
            current = self._store.get(run_id)
            remaining = deadline - time.monotonic()
            if current is None or current.state in TERMINAL or remaining <= 0:
                return current
            if self._completions.wait(run_id, min(self._poll, remaining)):
                return self._store.get(run_id)
