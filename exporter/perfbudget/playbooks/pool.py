"""The worker pool: `playbooks.worker_threads` threads taking queued runs from the audit log.

The audit log is the queue every process shares, so a worker also takes runs another process queued, and
the first worker of each process marks the runs of dead processes interrupted as it polls. With the shared
store (PostgreSQL) a heartbeat thread renews the pool's lease on the runs it holds (leases.py), and the
reaper marks those of replicas whose lease lapsed.
"""

from __future__ import annotations

import logging
import threading
import time

from ..db import TRANSIENT_ERRORS
from .execution import Executor
from .owners import new_owner, owner_alive, release_owner
from .records import INTERRUPTED
from .recovery import discard_leftovers

log = logging.getLogger(__name__)


class WorkerPool:
    """Threads claiming runs for `executor`; `wake` after queueing one so it starts without waiting a poll."""

    def __init__(self, executor: Executor, poll_seconds: float = 1.0) -> None:
        self._executor = executor
        self._poll = poll_seconds
        self.owner = new_owner()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._heartbeat: threading.Thread | None = None
        # Playbooks whose files are not here: their runs wait a lease's length for a replica that has them.
        self._deferred = executor.deferred()

    def start(self) -> None:
        """Start `playbooks.worker_threads` workers; they also take runs other processes queued."""
        if self._threads:
            return
        self._stop.clear()
        if not owner_alive(self.owner):  # started again after close()
            self.owner = new_owner()
        for index in range(self._executor.config.playbooks.worker_threads):
            thread = threading.Thread(target=self._work, args=(index,), name=f"perfbudget-runner-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self._executor.store.db.shared:
            self._heartbeat = threading.Thread(target=self._renew, name="perfbudget-lease", daemon=True)
            self._heartbeat.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking runs; wait up to `timeout` for runs in flight (one still running then is interrupted
        at the next start or by another process's workers)."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._heartbeat is not None:
            self._heartbeat.join(max(0.0, deadline - time.monotonic()))
            self._heartbeat = None
        if not any(thread.is_alive() for thread in self._threads):
            release_owner(self.owner)
            try:
                self._executor.store.release(self.owner)
            except Exception:  # the lease lapses on its own
                log.exception("releasing the playbook runner's lease")
        self._threads.clear()

    def _work(self, index: int) -> None:
        store = self._executor.store
        away = False
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if index == 0:
                    self._reap()
                while not self._stop.is_set():
                    run = store.claim(self.owner, self._executor.config.playbooks.max_concurrent_per_playbook,
                                      deferred=self._deferred)
                    if run is None:
                        break
                    self._executor.execute(run)
                away = False
            except TRANSIENT_ERRORS as exc:  # the store is busy or away: said once, not a traceback a second
                if not away:
                    log.warning("playbook worker %d: the audit log cannot be read now, retrying every %.0f s: %s",
                                index, self._poll, exc)
                away = True
            except Exception:  # a bug in one run must not kill the worker
                log.exception("playbook worker %d", index)
            self._wake.wait(self._poll)

    def _renew(self) -> None:
        """Every third of the lease, until closed: a missed renewal or two (a slow database) is no lapse."""
        store = self._executor.store
        while not self._stop.wait(store.lease_seconds / 3):
            try:
                store.renew(self.owner)
            except Exception:
                log.exception("renewing the playbook runner's lease (database.lease_seconds %g)", store.lease_seconds)

    def _reap(self) -> None:
        for run in self._executor.store.interrupt_orphans(owner_alive):
            discard_leftovers(self._executor.config, run.id)
            self._executor.count(run.playbook, run.mode, INTERRUPTED)
