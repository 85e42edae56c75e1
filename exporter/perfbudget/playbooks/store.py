"""The audit log: every playbook run and every change of its state, in SQLite (WAL, synchronous=FULL), or in
PostgreSQL shared by every replica (`database.url`: the same guarantees across machines).

The database is also the work queue shared by every worker process: the webhook inserts `queued` runs and
any worker thread of any process claims one with a single `UPDATE ... RETURNING`, so the per-playbook
concurrency limit holds across processes. Idempotency rests on a UNIQUE key (playbook, alert fingerprint,
startsAt): two processes (or replicas) receiving the same delivery at once cannot both insert it, and the
insert itself (ON CONFLICT DO NOTHING) is what tells a repeated delivery.

States: queued -> running -> succeeded | failed; queued -> skipped (cooldown); running -> interrupted (its process
died, or with PostgreSQL its replica's lease lapsed: leases.py; never re-run silently); succeeded -> rolled-back. A
queued run has done nothing yet: one a dead process left waits for the next worker. SQL: once for both (db/base.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import orjson

from ..config.model import Config
from ..db import Connection, Database, PostgresDatabase, SqliteDatabase
from ..db.postgres import check_reachable
from .intake import (
    ManualShareFull,
    QueueFull,
    Recorded,
    Resolution,
    Submitted,
    audit_path,
    idempotency_key,
    manual_share,
)
from .leases import lapsed, release_lease, renew_lease
from .owners import alive_at_start
from .records import (
    INTERRUPTED,
    QUEUED,
    RUNNING,
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
from .schema import migrate, schema_for

log = logging.getLogger(__name__)

# How far below the highest event a commit may land late (PostgreSQL: transactions in flight take their
# sequence numbers before they commit); far more than the events written while one transaction is open.
_LATE_COMMITS = 10_000

__all__ = ["SKIPPED", "TERMINAL", "ManualShareFull", "NewRun", "QueueFull", "Recorded", "Resolution", "Run", "Store",
           "Submitted", "audit_path", "database_problem", "idempotency_key", "manual_share", "open_store",
           "recover_interrupted"]


class Store:
    """The audit log. Thread-safe: one short operation per call, on its own (SQLite) or a pooled (PostgreSQL)
    connection. `Store(path)` is the embedded SQLite file; `Store(database)` any `Database` (open_store)."""

    def __init__(self, where: Path | Database, busy_timeout: float = 5.0, *, lease_seconds: float = 30.0) -> None:
        self.db: Database = SqliteDatabase(where, busy_timeout) if isinstance(where, Path) else where
        # The SQLite file (None with PostgreSQL: see `location`).
        self.path: Path | None = where if isinstance(where, Path) else None
        self.lease_seconds = lease_seconds
        self.db.prepare(schema_for(self.db), lambda db: migrate(self.db, db))
        # Called with each run `finish` ended, after its commit (the outcome metrics: playbooks/outcomes.py).
        self.finished: list[Callable[[Run], None]] = []

    @property
    def location(self) -> str:
        """The SQLite file, or the PostgreSQL URL without its password."""
        return self.db.location

    def close(self) -> None:
        self.db.close()

    def _connect(self) -> AbstractContextManager[Connection]:
        return self.db.connect()

    def _transaction(self, *, serial: bool = True) -> AbstractContextManager[Connection]:
        """`serial` (every SQLite transaction is): one at a time everywhere, for a check-then-write; a write
        to one run's own row needs no more than its row lock."""
        return self.db.transaction(serial=serial)

    @staticmethod
    def _event(db: Connection, run_id: str, event: str, **detail: Any) -> None:
        db.execute("INSERT INTO events (run_id, ts, event, detail) VALUES (?, ?, ?, ?)",
                   (run_id, time.time(), event, to_json_text(detail)))

    @staticmethod
    def _get(db: Connection, run_id: str) -> Run | None:
        row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return Run.from_row(row) if row else None

    def _insert(self, db: Connection, new: NewRun, state: RunState, message: str, now: float) -> Run | None:
        """The new run; None when its idempotency key is taken (the unique key decides, not a prior read)."""
        run_id = new_run_id()
        row = db.execute(
            "INSERT INTO runs (id, playbook, mode, state, idem_key, fingerprint, starts_at, alert_status, trigger, "
            "options, created_at, finished_at, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (idem_key) DO NOTHING RETURNING *",
            (run_id, new.playbook, new.mode, state, new.idem_key, new.fingerprint, new.starts_at,
             "firing" if new.fingerprint else None, to_json_text(new.trigger), to_json_text(new.options), now,
             now if state in TERMINAL else None, message),
        ).fetchone()
        if row is None:
            return None
        self._event(db, run_id, state, message=message, trigger=new.trigger.get("type"))
        return Run.from_row(row)

    def _duplicate(self, db: Connection, new: NewRun) -> Submitted | None:
        """The run `new` repeats (its delivery counted), or None when its idempotency key is new."""
        row = db.execute("UPDATE runs SET deliveries = deliveries + 1 WHERE idem_key = ? RETURNING *",
                         (new.idem_key,)).fetchone()
        if row is None:
            return None
        self._event(db, row["id"], "duplicate-delivery", receiver=new.trigger.get("receiver"))
        return Submitted(Run.from_row(row), True)

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
            queued = db.execute("SELECT COUNT(*) AS n FROM runs WHERE state = ?", (QUEUED,)).fetchone()["n"]
            for end in resolutions:
                db.execute("INSERT INTO resolved_alerts (fingerprint, starts_at, ends_at, received_at) "
                           "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", (end.fingerprint, end.starts_at, end.ends_at,
                                                                         now))
                ids = [row["id"] for row in db.execute(
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
                repeated = self._duplicate(db, new) if new.idem_key is not None else None
                if repeated is not None:
                    submitted.append(repeated)
                    continue
                if new.fingerprint is not None and db.execute(
                    "SELECT 1 FROM resolved_alerts WHERE fingerprint = ? AND starts_at = ?",
                    (new.fingerprint, new.starts_at),
                ).fetchone():
                    # A late retry or an HA peer's copy of an alert that has already ended.
                    already_resolved.add((new.fingerprint, new.starts_at))
                    continue
                cooled = self._cooldown(db, new, cooldown_seconds, now)
                if cooled is None and queued >= queue_size:
                    raise QueueFull(f"{queued} runs are queued (playbooks.queue_size is {queue_size})")
                run = self._insert(db, new, SKIPPED if cooled else QUEUED, cooled or "queued", now)
                if run is None:  # inserted meanwhile by a writer that did not take the lock: still one run
                    repeated = self._duplicate(db, new)
                    assert repeated is not None
                    submitted.append(repeated)
                    continue
                queued += 0 if cooled else 1
                submitted.append(Submitted(run, False))
        return Recorded(submitted, len(already_resolved), resolved_runs, resolved)

    @staticmethod
    def _cooldown(db: Connection, new: NewRun, cooldown: float, now: float) -> str | None:
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
            manual = db.execute("SELECT COUNT(*) AS n FROM runs WHERE state = ? AND idem_key IS NULL",
                                (QUEUED,)).fetchone()["n"]
            if manual >= share:
                raise ManualShareFull(f"the share of the queue for runs started by hand is full: {manual} are queued "
                                      f"(at most {share}, half of playbooks.queue_size {queue_size}; the rest is kept "
                                      "for the Alertmanager webhook)")
            queued = db.execute("SELECT COUNT(*) AS n FROM runs WHERE state = ?", (QUEUED,)).fetchone()["n"]
            if queued >= queue_size:
                raise QueueFull(f"{queued} runs are queued (playbooks.queue_size is {queue_size})")
            run = self._insert(db, new, QUEUED, "queued", time.time())
        assert run is not None  # runs started by hand have no idempotency key
        return run

    # --- the queue --------------------------------------------------------------------------------

    def claim(self, owner: str, max_concurrent: int, run_id: str | None = None,
              deferred: Collection[str] = ()) -> Run | None:
        """Take the oldest queued run whose playbook has fewer than `max_concurrent` running (or `run_id`); runs
        of `deferred` playbooks only once queued for `lease_seconds` (left to replicas with the site's files)."""
        now = time.time()
        wait = f" AND (r.playbook NOT IN ({', '.join('?' * len(deferred))}) OR r.created_at < ?)" if deferred else ""
        with self._transaction() as db:
            if self.db.shared:  # the lease first: a replica never holds a run it has no claim on
                renew_lease(db, owner, self.lease_seconds)
            # The outer `state = ?` too: whatever a concurrent writer did, a run is taken from `queued` once.
            row = db.execute(
                "UPDATE runs SET state = ?, owner = ?, started_at = ? WHERE state = ? AND id = ("
                " SELECT r.id FROM runs r WHERE r.state = ? AND (CAST(? AS TEXT) IS NULL OR r.id = ?) AND"
                " (SELECT COUNT(*) FROM runs x WHERE x.playbook = r.playbook AND x.state = ?) < ?" + wait +
                " ORDER BY r.created_at, r.id LIMIT 1) RETURNING *",
                (RUNNING, owner, now, QUEUED, QUEUED, run_id, run_id, RUNNING, max_concurrent,
                 *((*sorted(deferred), now - self.lease_seconds) if deferred else ())),
            ).fetchone()
            if row is None:
                return None
            self._event(db, row["id"], RUNNING, owner=owner)
            return Run.from_row(row)

    def renew(self, owner: str) -> None:
        """Renew `owner`'s lease on the runs it holds (shared store only; with SQLite its pid is the lease)."""
        if self.db.shared:
            with self._transaction(serial=False) as db:
                renew_lease(db, owner, self.lease_seconds)

    def release(self, owner: str) -> None:
        """`owner` holds nothing any more (its runner closed with no run in flight)."""
        if self.db.shared:
            with self._transaction(serial=False) as db:
                release_lease(db, owner)

    def progress(self, run_id: str, result: RunResult, message: str) -> None:
        """The result so far, written after every action so a crash loses at most the one in flight."""
        with self._transaction(serial=False) as db:
            db.execute("UPDATE runs SET result = ?, message = ? WHERE id = ?",
                       (to_json_text(result.to_json()), message, run_id))

    def finish(self, run_id: str, state: RunState, message: str, result: RunResult) -> Run:
        """The run's end. One marked interrupted meanwhile (its replica's lease lapsed, and another replica
        acted on that) stays interrupted: its result is kept, for a rollback, and its end is an event."""
        now = time.time()
        with self._transaction(serial=False) as db:
            row = db.execute(
                "UPDATE runs SET state = ?, message = ?, result = ?, finished_at = ? WHERE id = ? AND state = ? "
                "RETURNING *", (state, message, to_json_text(result.to_json()), now, run_id, RUNNING),
            ).fetchone()
            if row is None:
                db.execute("UPDATE runs SET result = ? WHERE id = ?", (to_json_text(result.to_json()), run_id))
                self._event(db, run_id, "ended-after-interruption", state=state, message=message)
                late = self._get(db, run_id)
                assert late is not None
                return late
            self._event(db, run_id, state, message=message)
            run = Run.from_row(row)
        for listener in self.finished:
            try:
                listener(run)
            except Exception:  # a metric must never fail the run it counts
                log.exception("run %s: recording that it ended", run_id)
        return run

    def mark(self, run_id: str, state: RunState, message: str, result: RunResult | None = None) -> Run:
        """A later state change of a finished run (rolled back), with its own event."""
        with self._transaction(serial=False) as db:
            if result is not None:
                db.execute("UPDATE runs SET result = ? WHERE id = ?", (to_json_text(result.to_json()), run_id))
            db.execute("UPDATE runs SET state = ?, message = ? WHERE id = ?", (state, message, run_id))
            self._event(db, run_id, state, message=message)
            run = self._get(db, run_id)
        assert run is not None
        return run

    def interrupt_orphans(self, alive: Callable[[str], bool]) -> list[Run]:
        """Mark running runs whose owner is dead as interrupted; returns them. With SQLite `alive` tells (by
        pid); with PostgreSQL the owner's lease does (leases.py), and `alive` is not asked."""
        found: list[Run] = []
        with self._transaction() as db:
            orphans: list[tuple[str, str]] = []
            if self.db.shared:
                orphans = [(gone.run_id, gone.message(self.lease_seconds)) for gone in lapsed(db)]
            else:
                for row in db.execute("SELECT id, owner FROM runs WHERE state = ?", (RUNNING,)).fetchall():
                    if not (row["owner"] and alive(row["owner"])):
                        orphans.append((row["id"], f"interrupted: the process running it ({row['owner']}) ended "
                                        "before it finished; it was not re-run (check what its actions did, then "
                                        "run it again)"))
            for run_id, message in orphans:
                row = db.execute("UPDATE runs SET state = ?, message = ?, finished_at = ? WHERE id = ? AND state = ? "
                                 "RETURNING *", (INTERRUPTED, message, time.time(), run_id, RUNNING)).fetchone()
                if row is not None:
                    self._event(db, run_id, INTERRUPTED, message=message)
                    found.append(Run.from_row(row))
        return found

    # --- reading ----------------------------------------------------------------------------------

    def get(self, run_id: str, events: bool = False) -> Run | None:
        with self._connect() as db:
            run = self._get(db, run_id)
            if run is not None and events:
                run.events = [
                    {"ts": row["ts"], "event": row["event"], **orjson.loads(row["detail"])}
                    for row in db.execute(f"SELECT * FROM events WHERE run_id = ? ORDER BY ts, {self.db.sequence}",
                                          (run_id,))
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
            for row in db.execute(f"SELECT playbook, mode, COUNT(*) AS n FROM runs WHERE state != 'skipped' "
                                  f"{where} GROUP BY playbook, mode", args):
                out.setdefault(row["playbook"], {})[row["mode"]] = row["n"]
        return out

    def resolved_runs(self, playbook: str | None = None) -> list[Run]:
        """Runs whose alert resolved, newest first."""
        where, args = ("AND playbook = ?", (playbook,)) if playbook is not None else ("", ())
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM runs WHERE alert_status = 'resolved' AND state != 'skipped' {where} "
                              "ORDER BY id DESC", args).fetchall()
        return [Run.from_row(row) for row in rows]

    def version(self) -> int:
        """Moves with every change of any run (each one writes an event): a cached reading is current while
        this has not moved. PostgreSQL hands out sequence numbers before commit, so a transaction may commit
        a lower one after a higher is seen: the count of the latest events (an index range, however long the
        log) moves then, and the two make the version."""
        with self._connect() as db:
            top: int = db.execute(f"SELECT COALESCE(MAX({self.db.sequence}), 0) AS top FROM events").fetchone()["top"]
            if not self.db.shared:
                return top
            recent: int = db.execute("SELECT COUNT(*) AS n FROM events WHERE seq > ?",
                                     (top - _LATE_COMMITS,)).fetchone()["n"]
        return (top << 32) | recent

    def settle(self, run_id: str, outcome: str) -> bool:
        """Record an execute's verdict once: True for the one caller (of any process) that recorded it."""
        with self._transaction(serial=False) as db:
            changed: int = db.execute("UPDATE runs SET outcome = ? WHERE id = ? AND outcome IS NULL",
                                      (outcome, run_id)).rowcount
        return changed == 1

    def count(self, state: str) -> int:
        with self._connect() as db:
            value: int = db.execute("SELECT COUNT(*) AS n FROM runs WHERE state = ?", (state,)).fetchone()["n"]
        return value


def open_store(config: Config) -> Store:
    """The configured audit log: PostgreSQL at `database.url`, else the SQLite file (`audit_path`).
    DatabaseUnreachable (naming the URL without its password) when the database cannot be used."""
    if config.database.url is None:
        return Store(audit_path(config))
    return Store(PostgresDatabase(config.database.url, config.database.connect_timeout_seconds),
                 lease_seconds=config.database.lease_seconds)


def database_problem(config: Config) -> str | None:
    """Why the configured shared store cannot be reached (None: it can, or the store is the embedded one)."""
    if config.database.url is None:
        return None
    return check_reachable(config.database.url, config.database.connect_timeout_seconds)


def recover_interrupted(config: Config) -> list[Run]:
    """At start, before any worker: runs left `running` by a crash are marked interrupted.

    Queued runs stay queued (they never started, so running them now is not a re-run) and the new
    workers take them. Called by `perfbudget serve` once per start; old dry runs leave the log here too.
    With PostgreSQL only runs whose replica's lease has lapsed are: the other replicas are running.
    """
    store = open_store(config)
    try:
        store.prune(time.time() - config.playbooks.retention_days * 86400)
        runs = store.interrupt_orphans(alive_at_start)
    finally:
        store.close()
    for run in runs:
        discard_leftovers(config, run.id)
    return runs
