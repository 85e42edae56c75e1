"""The audit log: every playbook run and every change of its state, in SQLite (WAL, synchronous=FULL).

The database is also the work queue shared by every worker process: the webhook inserts `queued` runs and
any worker thread of any process claims one with a single `UPDATE ... RETURNING`, so the per-playbook
concurrency limit holds across processes. Idempotency rests on a UNIQUE key (playbook, alert fingerprint,
startsAt): two processes receiving the same delivery at once cannot both insert it.

States: queued -> running -> succeeded | failed; queued -> skipped (cooldown); running -> interrupted (its
process died: never re-run silently); succeeded -> rolled-back. A queued run has done nothing yet, so one
left behind by a dead process simply waits for the next worker.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..config.model import Config
from ..sqlite import prepare
from .owners import alive_at_start
from .records import (
    INTERRUPTED,
    QUEUED,
    RUNNING,
    SCHEMA,
    SKIPPED,
    TERMINAL,
    NewRun,
    Run,
    RunResult,
    RunState,
    new_run_id,
    to_json_text,
)
from .recovery import discard_leftovers

log = logging.getLogger(__name__)

__all__ = ["SKIPPED", "TERMINAL", "ManualShareFull", "NewRun", "QueueFull", "Recorded", "Resolution", "Run", "Store",
           "Submitted", "audit_path", "idempotency_key", "manual_share", "recover_interrupted"]


class QueueFull(Exception):
    """More runs are queued than `playbooks.queue_size`: a transient fault (the sender should retry)."""


class ManualShareFull(QueueFull):
    """Runs started by hand already fill their share of the queue (see `manual_share`)."""


def manual_share(queue_size: int) -> int:
    """How many queued runs started by hand the queue takes: half of it, at least one.

    Dry runs need no token, so without this anyone could fill the queue with them and the Alertmanager
    webhook, which shares it, would answer 503 until they drain. Capping runs started by hand at half
    leaves the webhook the other half (with `queue_size` 1 the one slot is shared: there is no half).
    """
    return max(1, queue_size // 2)


def audit_path(config: Config) -> Path:
    return config.playbooks.audit_file or config.data_dir / "playbook-runs.sqlite"


@dataclass(frozen=True)
class Resolution:
    fingerprint: str
    starts_at: str
    ends_at: str | None


@dataclass(frozen=True)
class Submitted:
    """What recording a `NewRun` gave: the run, and whether it already existed (a repeated delivery)."""

    run: Run
    duplicate: bool


@dataclass(frozen=True)
class Recorded:
    """What recording one webhook delivery gave."""

    submitted: list[Submitted]
    # Firing alerts not started because the same alert (fingerprint, startsAt) was already resolved.
    already_resolved: int
    # Runs marked resolved by resolved alerts in the delivery.
    resolved_runs: int
    # Those runs, as they are now (with endsAt and when it was received).
    resolved: list[Run] = field(default_factory=list)


def idempotency_key(playbook: str, fingerprint: str, starts_at: str) -> str:
    return f"{playbook}\x1f{fingerprint}\x1f{starts_at}"


class Store:
    """The audit log. Thread-safe: one short-lived connection per operation."""

    def __init__(self, path: Path, busy_timeout: float = 5.0) -> None:
        self.path = path
        self._timeout = busy_timeout
        prepare(path, SCHEMA, timeout=busy_timeout)
        self._migrate()
        # Called with each run `finish` ended, after its commit (the outcome metrics: playbooks/outcomes.py).
        self.finished: list[Callable[[Run], None]] = []

    def _migrate(self) -> None:
        """Columns later versions added to `runs`, added to an older audit log, whose rows keep loading.

        Runs that had ended before verdicts were recorded get the outcome "" (settled, no verdict recorded),
        so the outcome counters do not count a whole history once at the upgrade."""
        with self._transaction() as db:
            have = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
            if "ends_at" not in have:
                db.execute("ALTER TABLE runs ADD COLUMN ends_at TEXT")
            if "outcome" not in have:
                db.execute("ALTER TABLE runs ADD COLUMN outcome TEXT")
                db.execute("UPDATE runs SET outcome = '' WHERE state NOT IN ('queued', 'running')")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
        try:
            db.row_factory = sqlite3.Row
            # WAL's default NORMAL can lose the last commits on power loss; a run acknowledged to
            # Alertmanager must survive that, so every commit is fsynced.
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            # IMMEDIATE takes the write lock up front, so check-then-insert is atomic across processes.
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _event(db: sqlite3.Connection, run_id: str, event: str, **detail: Any) -> None:
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (run_id, time.time(), event, to_json_text(detail)))

    @staticmethod
    def _get(db: sqlite3.Connection, run_id: str) -> Run | None:
        row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return Run.from_row(row) if row else None

    def _insert(self, db: sqlite3.Connection, new: NewRun, state: RunState, message: str, now: float) -> Run:
        run_id = new_run_id()
        db.execute(
            "INSERT INTO runs (id, playbook, mode, state, idem_key, fingerprint, starts_at, alert_status, trigger, "
            "options, created_at, finished_at, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, new.playbook, new.mode, state, new.idem_key, new.fingerprint, new.starts_at,
             "firing" if new.fingerprint else None, to_json_text(new.trigger), to_json_text(new.options), now,
             now if state in TERMINAL else None, message),
        )
        self._event(db, run_id, state, message=message, trigger=new.trigger.get("type"))
        run = self._get(db, run_id)
        assert run is not None
        return run

    # --- recording --------------------------------------------------------------------------------

    def record_delivery(
        self,
        firing: Sequence[NewRun],
        resolutions: Sequence[Resolution],
        *,
        queue_size: int,
        cooldown_seconds: float,
        now: float | None = None,
    ) -> Recorded:
        """One webhook delivery in one transaction: durable when this returns, nothing of it when it raises."""
        now = time.time() if now is None else now
        submitted: list[Submitted] = []
        already_resolved: set[tuple[str, str | None]] = set()
        resolved_runs = 0
        resolved: list[Run] = []
        with self._transaction() as db:
            queued = db.execute("SELECT COUNT(*) FROM runs WHERE state = ?", (QUEUED,)).fetchone()[0]
            for end in resolutions:
                db.execute("INSERT OR IGNORE INTO resolved_alerts VALUES (?, ?, ?, ?)",
                           (end.fingerprint, end.starts_at, end.ends_at, now))
                ids = [row[0] for row in db.execute(
                    "SELECT id FROM runs WHERE fingerprint = ? AND starts_at = ? AND alert_status = 'firing'",
                    (end.fingerprint, end.starts_at))]
                for run_id in ids:
                    db.execute("UPDATE runs SET alert_status = 'resolved', resolved_at = ?, ends_at = ? WHERE id = ?",
                               (now, end.ends_at, run_id))
                    self._event(db, run_id, "alert-resolved", endsAt=end.ends_at)
                    ended = self._get(db, run_id)
                    assert ended is not None
                    resolved.append(ended)
                resolved_runs += len(ids)
            for new in firing:
                if new.idem_key is not None:
                    row = db.execute("SELECT * FROM runs WHERE idem_key = ?", (new.idem_key,)).fetchone()
                    if row is not None:
                        db.execute("UPDATE runs SET deliveries = deliveries + 1 WHERE id = ?", (row["id"],))
                        self._event(db, row["id"], "duplicate-delivery", receiver=new.trigger.get("receiver"))
                        existing = self._get(db, row["id"])
                        assert existing is not None
                        submitted.append(Submitted(existing, True))
                        continue
                if new.fingerprint is not None and db.execute(
                    "SELECT 1 FROM resolved_alerts WHERE fingerprint = ? AND starts_at = ?",
                    (new.fingerprint, new.starts_at),
                ).fetchone():
                    # A late retry or an HA peer's copy of an alert that has already ended.
                    already_resolved.add((new.fingerprint, new.starts_at))
                    continue
                cooled = self._cooldown(db, new, cooldown_seconds, now)
                if cooled is not None:
                    submitted.append(Submitted(self._insert(db, new, SKIPPED, cooled, now), False))
                    continue
                if queued >= queue_size:
                    raise QueueFull(f"{queued} runs are queued (playbooks.queue_size is {queue_size})")
                queued += 1
                submitted.append(Submitted(self._insert(db, new, QUEUED, "queued", now), False))
        return Recorded(submitted, len(already_resolved), resolved_runs, resolved)

    @staticmethod
    def _cooldown(db: sqlite3.Connection, new: NewRun, cooldown: float, now: float) -> str | None:
        """Why `new` must be skipped: the same playbook ran for the same alert within the cooldown."""
        if new.fingerprint is None or cooldown <= 0:
            return None
        row = db.execute(
            "SELECT id, created_at FROM runs WHERE playbook = ? AND fingerprint = ? AND state != ? "
            "AND created_at > ? ORDER BY created_at DESC LIMIT 1",
            (new.playbook, new.fingerprint, SKIPPED, now - cooldown),
        ).fetchone()
        if row is None:
            return None
        return (f"cooldown: run {row['id']} of {new.playbook} for this alert started {now - row['created_at']:.0f}s "
                f"ago (playbooks.cooldown_seconds is {cooldown:g})")

    def submit(self, new: NewRun, *, queue_size: int) -> Run:
        """A run started by hand: always a new run, queued, within the manual share of the queue."""
        share = manual_share(queue_size)
        with self._transaction() as db:
            # Runs started by hand are the ones without an idempotency key (alerts always have one).
            manual = db.execute("SELECT COUNT(*) FROM runs WHERE state = ? AND idem_key IS NULL",
                                (QUEUED,)).fetchone()[0]
            if manual >= share:
                raise ManualShareFull(f"the share of the queue for runs started by hand is full: {manual} are queued "
                                      f"(at most {share}, half of playbooks.queue_size {queue_size}; the rest is kept "
                                      "for the Alertmanager webhook)")
            queued = db.execute("SELECT COUNT(*) FROM runs WHERE state = ?", (QUEUED,)).fetchone()[0]
            if queued >= queue_size:
                raise QueueFull(f"{queued} runs are queued (playbooks.queue_size is {queue_size})")
            return self._insert(db, new, QUEUED, "queued", time.time())

    # --- the queue --------------------------------------------------------------------------------

    def claim(self, owner: str, max_concurrent: int, run_id: str | None = None) -> Run | None:
        """Take the oldest queued run whose playbook has fewer than `max_concurrent` running (or `run_id`)."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute(
                "UPDATE runs SET state = ?, owner = ?, started_at = ? WHERE id = ("
                " SELECT r.id FROM runs r WHERE r.state = ? AND (? IS NULL OR r.id = ?) AND"
                " (SELECT COUNT(*) FROM runs x WHERE x.playbook = r.playbook AND x.state = ?) < ?"
                " ORDER BY r.created_at, r.id LIMIT 1) RETURNING id",
                (RUNNING, owner, now, QUEUED, run_id, run_id, RUNNING, max_concurrent),
            ).fetchone()
            if row is None:
                return None
            self._event(db, row[0], RUNNING, owner=owner)
            return self._get(db, row[0])

    def progress(self, run_id: str, result: RunResult, message: str) -> None:
        """The result so far, written after every action so a crash loses at most the one in flight."""
        with self._transaction() as db:
            db.execute("UPDATE runs SET result = ?, message = ? WHERE id = ?",
                       (to_json_text(result.to_json()), message, run_id))

    def finish(self, run_id: str, state: RunState, message: str, result: RunResult) -> Run:
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET state = ?, message = ?, result = ?, finished_at = ? WHERE id = ?",
                (state, message, to_json_text(result.to_json()), now, run_id),
            )
            self._event(db, run_id, state, message=message)
            run = self._get(db, run_id)
        assert run is not None
        for listener in self.finished:
            try:
                listener(run)
            except Exception:  # a metric must never fail the run it counts
                log.exception("run %s: recording that it ended", run_id)
        return run

    def mark(self, run_id: str, state: RunState, message: str, result: RunResult | None = None) -> Run:
        """A later state change of a finished run (rolled back), with its own event."""
        with self._transaction() as db:
            if result is not None:
                db.execute("UPDATE runs SET result = ? WHERE id = ?", (to_json_text(result.to_json()), run_id))
            db.execute("UPDATE runs SET state = ?, message = ? WHERE id = ?", (state, message, run_id))
            self._event(db, run_id, state, message=message)
            run = self._get(db, run_id)
        assert run is not None
        return run

    def interrupt_orphans(self, alive: Callable[[str], bool]) -> list[Run]:
        """Mark running runs whose owner is dead as interrupted; returns them."""
        found: list[Run] = []
        with self._transaction() as db:
            rows = db.execute("SELECT id, owner FROM runs WHERE state = ?", (RUNNING,)).fetchall()
            for row in rows:
                if row["owner"] and alive(row["owner"]):
                    continue
                message = (f"interrupted: the process running it ({row['owner']}) ended before it finished; "
                           "it was not re-run (check what its actions did, then run it again)")
                db.execute("UPDATE runs SET state = ?, message = ?, finished_at = ? WHERE id = ?",
                           (INTERRUPTED, message, time.time(), row["id"]))
                self._event(db, row["id"], INTERRUPTED, message=message)
                run = self._get(db, row["id"])
                assert run is not None
                found.append(run)
        return found

    # --- reading ----------------------------------------------------------------------------------

    def get(self, run_id: str, events: bool = False) -> Run | None:
        with self._connect() as db:
            run = self._get(db, run_id)
            if run is not None and events:
                run.events = [
                    {"ts": row["ts"], "event": row["event"], **orjson.loads(row["detail"])}
                    for row in db.execute("SELECT * FROM events WHERE run_id = ? ORDER BY ts, rowid", (run_id,))
                ]
        return run

    def recent(self, *, limit: int = 50, playbook: str | None = None, state: str | None = None,
             before: str | None = None, fingerprint: str | None = None) -> list[Run]:
        """Newest first."""
        clauses, args = [], []
        for column, value, op in (("playbook", playbook, "="), ("state", state, "="), ("id", before, "<"),
                                  ("fingerprint", fingerprint, "=")):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [Run.from_row(row) for row in rows]

    def prune(self, older_than: float) -> int:
        """Forget finished dry runs and skipped runs created before `older_than`; executes stay for good
        (their manifests and backups are how a change is undone). Returns how many runs went."""
        doomed = ("SELECT id FROM runs WHERE created_at < ? AND (state = 'skipped' OR "
                  "(mode = 'dry-run' AND state IN ('succeeded', 'failed', 'interrupted')))")
        with self._transaction() as db:
            db.execute(f"DELETE FROM events WHERE run_id IN ({doomed})", (older_than,))
            removed: int = db.execute(f"DELETE FROM runs WHERE id IN ({doomed})", (older_than,)).rowcount
        return removed

    def executions(self, playbook: str | None = None, *, unsettled: bool = False) -> list[Run]:
        """Executes that ran (not queued, running or skipped), newest first; `unsettled`: only those
        without a verdict yet."""
        clauses = ["mode = 'execute'", "state NOT IN ('queued', 'running', 'skipped')"]
        args: list[Any] = []
        if playbook is not None:
            clauses.append("playbook = ?")
            args.append(playbook)
        if unsettled:
            clauses.append("outcome IS NULL")
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM runs WHERE {' AND '.join(clauses)} ORDER BY id DESC", args).fetchall()
        return [Run.from_row(row) for row in rows]

    def tallies(self, playbook: str | None = None) -> dict[str, dict[str, int]]:
        """Per playbook, its runs by mode (skipped runs left out: they did nothing)."""
        where, args = ("AND playbook = ?", (playbook,)) if playbook is not None else ("", ())
        out: dict[str, dict[str, int]] = {}
        with self._connect() as db:
            for row in db.execute(f"SELECT playbook, mode, COUNT(*) FROM runs WHERE state != 'skipped' {where} "
                                  "GROUP BY playbook, mode", args):
                out.setdefault(row[0], {})[row[1]] = row[2]
        return out

    def resolved_runs(self, playbook: str | None = None) -> list[Run]:
        """Runs whose alert resolved, newest first."""
        where, args = ("AND playbook = ?", (playbook,)) if playbook is not None else ("", ())
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM runs WHERE alert_status = 'resolved' AND state != 'skipped' {where} "
                              "ORDER BY id DESC", args).fetchall()
        return [Run.from_row(row) for row in rows]

    def version(self) -> int:
        """Grows with every change of any run (each one writes an event): a cached reading is current while
        this has not moved."""
        with self._connect() as db:
            value: int = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM events").fetchone()[0]
        return value

    def settle(self, run_id: str, outcome: str) -> bool:
        """Record an execute's verdict once: True for the one caller (of any process) that recorded it."""
        with self._transaction() as db:
            changed: int = db.execute("UPDATE runs SET outcome = ? WHERE id = ? AND outcome IS NULL",
                                      (outcome, run_id)).rowcount
        return changed == 1

    def count(self, state: str) -> int:
        with self._connect() as db:
            value: int = db.execute("SELECT COUNT(*) FROM runs WHERE state = ?", (state,)).fetchone()[0]
        return value


def recover_interrupted(config: Config) -> list[Run]:
    """At start, before any worker: runs left `running` by a crash are marked interrupted.

    Queued runs stay queued (they never started, so running them now is not a re-run) and the new
    workers take them. Called by `perfbudget serve` once per start; old dry runs leave the log here too.
    """
    store = Store(audit_path(config))
    store.prune(time.time() - config.playbooks.retention_days * 86400)
    runs = store.interrupt_orphans(alive_at_start)
    for run in runs:
        discard_leftovers(config, run.id)
    return runs
