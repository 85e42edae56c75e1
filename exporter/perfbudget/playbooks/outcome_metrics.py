"""The fix outcomes in Prometheus: bytes saved when an execute ends, its verdict once settled, and the time
to resolution when the webhook records an alert resolved (playbooks/alerts.py calls `resolved`).

Each is counted once in one process: an execute ends in the process that ran it, a verdict is settled by
the one process whose `Store.settle` wins, a resolution is recorded by the process that received it. The
metrics are client_python's, multiprocess-safe as the others (metrics.py).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable

from ..metrics import Metrics
from .outcomes import FAILED_OUTCOME, OUTCOMES, WAITING, Outcomes, bytes_saved
from .records import EXECUTE, FAILED, Run

log = logging.getLogger(__name__)

EXECUTED, BY_HAND = "executed", "by_hand"


def resolved(metrics: Metrics, runs: Iterable[Run]) -> None:
    """Observe startsAt -> resolution for runs whose alert the webhook just recorded resolved."""
    for run in runs:
        seconds = run.resolution_seconds
        if seconds is not None:
            metrics.playbook_resolution.labels(run.playbook, EXECUTED if run.mode == EXECUTE else BY_HAND).observe(
                seconds)


class OutcomeRecorder:
    """Records outcome metrics: `finished` is a Store listener; a thread settles verdicts every `interval`."""

    def __init__(self, outcomes: Outcomes, metrics: Metrics, interval: float = 30.0) -> None:
        self._outcomes = outcomes
        self._metrics = metrics
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def finished(self, run: Run) -> None:
        """An execute ended here: its real bytes saved; a failed one is settled at once."""
        if run.mode != EXECUTE:
            return
        saved = bytes_saved(run)
        if saved:
            self._metrics.playbook_bytes_saved.labels(run.playbook).inc(saved)
        if run.state == FAILED and self._outcomes.store.settle(run.id, FAILED_OUTCOME):
            self._metrics.playbook_outcomes.labels(run.playbook, OUTCOMES[FAILED_OUTCOME]).inc()

    def settle(self) -> int:
        """Settle what is due now; how many verdicts this process counted."""
        settled = self._outcomes.settle()
        for playbook, outcome in settled:
            self._metrics.playbook_outcomes.labels(playbook, outcome).inc()
        return len(settled)

    def initialise(self, playbooks: Iterable[str]) -> None:
        """Every series at zero for the loaded playbooks, so the first event of each is an increase
        Prometheus sees (a series born at 1 has no increase() in its first range)."""
        for playbook in playbooks:
            self._metrics.playbook_bytes_saved.labels(playbook)
            for outcome in OUTCOMES.values():
                if outcome != OUTCOMES[WAITING]:  # never settled: not an outcome the counter counts
                    self._metrics.playbook_outcomes.labels(playbook, outcome)
            for how in (EXECUTED, BY_HAND):
                self._metrics.playbook_resolution.labels(playbook, how)

    def start(self) -> None:
        self.initialise(sorted(self._outcomes.playbook_ids()))
        self._outcomes.store.finished.append(self.finished)
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="perfbudget-outcomes", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.settle()
            except (sqlite3.Error, OSError) as exc:  # a locked or full database: the next round settles it
                log.warning("settling playbook outcomes: %s", exc)
            except Exception:  # a bug must not end the thread
                log.exception("settling playbook outcomes")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self.finished in self._outcomes.store.finished:
            self._outcomes.store.finished.remove(self.finished)
