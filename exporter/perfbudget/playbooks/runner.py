"""The runner: what the server and the command line use to start, run, verify and roll back playbook runs.

It puts together the parts, each in its own module: `execution` (one run), `pool` (the worker threads),
`verify` (before and after), `recovery` (rollback), over the audit log in `store`.
"""

from __future__ import annotations

from typing import Any

from ..config.model import Config
from ..metrics import Metrics
from .actions import ActionError
from .execution import Attribution, Executor, Progress
from .model import Playbooks
from .pool import WorkerPool
from .records import DRY_RUN, EXECUTE, Mode, NewRun, Run, RunOptions, Verification
from .recovery import check_rollback, undo_run
from .store import Store
from .verify import Verifier, compare
from .waiters import Completions


class _SignallingExecutor(Executor):
    """The executor that tells `completions` each run it ended, so answers waiting for it wake at once."""

    def __init__(self, *args: Any, completions: Completions, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.completions = completions

    def execute(self, run: Run, progress: Progress | None = None) -> Run:
        try:
            return super().execute(run, progress)
        finally:
            self.completions.ended(run.id)


class Runner:
    """Runs playbooks: a worker pool for the server, or `run_now` for the command line."""

    def __init__(
        self,
        config: Config,
        playbooks: Playbooks,
        store: Store,
        *,
        metrics: Metrics | None = None,
        verifier: Verifier | None = None,
        attribution: Attribution | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        # Every run this process executes ends with a signal (POST /api/perf-fix waits on it: waiters.py).
        self.completions = Completions()
        self.executor: Executor = _SignallingExecutor(config, playbooks, store, metrics=metrics, verifier=verifier,
                                                      attribution=attribution, completions=self.completions)
        self.pool = WorkerPool(self.executor, poll_seconds)

    @property
    def config(self) -> Config:
        return self.executor.config

    @property
    def playbooks(self) -> Playbooks:
        return self.executor.playbooks

    @property
    def store(self) -> Store:
        return self.executor.store

    @property
    def metrics(self) -> Metrics | None:
        return self.executor.metrics

    @property
    def verifier(self) -> Verifier | None:
        return self.executor.verifier

    @verifier.setter
    def verifier(self, verifier: Verifier | None) -> None:
        self.executor.verifier = verifier

    def start(self) -> None:
        self.pool.start()

    def wake(self) -> None:
        self.pool.wake()

    def close(self, timeout: float = 10.0) -> None:
        self.pool.close(timeout)

    def count(self, playbook: str, mode: str, outcome: str) -> None:
        self.executor.count(playbook, mode, outcome)

    def submit_manual(self, playbook: str, *, execute: bool, auto_approve: bool, trigger: dict[str, Any],
                      route: str | None = None) -> Run:
        """Record a run started by hand (API or command line) and wake a worker. The caller checks policy."""
        mode: Mode = EXECUTE if execute else DRY_RUN
        new = NewRun(playbook, mode, trigger, RunOptions(autoApprove=auto_approve, route=route))
        run = self.store.submit(new, queue_size=self.config.playbooks.queue_size)
        self.wake()
        return run

    def run_now(self, run_id: str, progress: Progress | None = None) -> Run:
        """Claim and run one queued run in this thread (the command line's `run`)."""
        limit = self.config.playbooks.max_concurrent_per_playbook
        run = self.store.claim(self.pool.owner, limit, run_id)
        if run is None:
            current = self.store.get(run_id)
            state = current.state if current else "missing"
            raise ActionError(f"run {run_id} cannot start: it is {state}, or "
                              f"{limit} runs of its playbook are running")
        return self.executor.execute(run, progress)

    def verification(self, run: Run, *, measure: bool = True) -> Verification | None:
        """The run's before and after (with `measure` false, only what was stored)."""
        return compare(self.verifier, run, measure=measure)

    def rollback(self, run_id: str, progress: Progress | None = None) -> Run:
        """Undo the applied actions of an execute, newest first, from their manifests and the journal."""
        run = self.store.get(run_id)
        if run is None:
            raise ActionError(f"no run {run_id}")
        check_rollback(run)
        ctx = self.executor.context(run, progress)
        undone = undo_run(run, ctx, self.config.playbooks.action_timeout_seconds, progress or (lambda line: None))
        return self.store.mark(run_id, undone.state, undone.message, undone.result)
