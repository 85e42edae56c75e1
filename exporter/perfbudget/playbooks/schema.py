"""The audit log's tables, for SQLite (the embedded default) and PostgreSQL (the shared store), and the
migration of an older audit log.

The two schemas hold the same columns under the same names, so every query is written once: `runs` alike
(REAL is PostgreSQL's DOUBLE PRECISION; run ids compare bytewise, as in SQLite, whatever the database's
collation), `events` with an explicit insertion order in PostgreSQL (SQLite's implicit rowid elsewhere), and
`leases` only in PostgreSQL, where a run is held by a replica's lease rather than by a process id.
"""

from __future__ import annotations

from ..db import Connection, Database

_RUNS = """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        playbook TEXT NOT NULL,
        mode TEXT NOT NULL,
        state TEXT NOT NULL,
        idem_key TEXT UNIQUE,
        fingerprint TEXT,
        starts_at TEXT,
        alert_status TEXT,
        resolved_at REAL,
        trigger TEXT NOT NULL,
        options TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        owner TEXT,
        message TEXT NOT NULL DEFAULT '',
        result TEXT NOT NULL DEFAULT '{}',
        deliveries INTEGER NOT NULL DEFAULT 1,
        ends_at TEXT,
        outcome TEXT
    )"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS runs_by_state ON runs (state, created_at)",
    "CREATE INDEX IF NOT EXISTS runs_by_alert ON runs (fingerprint, starts_at)",
    "CREATE INDEX IF NOT EXISTS runs_by_playbook ON runs (playbook, fingerprint, created_at)",
    "CREATE INDEX IF NOT EXISTS runs_by_time ON runs (created_at)",
    "CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, ts)",
)
_RESOLVED = """CREATE TABLE IF NOT EXISTS resolved_alerts (
        fingerprint TEXT NOT NULL, starts_at TEXT NOT NULL, ends_at TEXT, received_at REAL NOT NULL,
        PRIMARY KEY (fingerprint, starts_at)
    )"""

SQLITE_SCHEMA = (
    _RUNS,
    """CREATE TABLE IF NOT EXISTS events (
        run_id TEXT NOT NULL, ts REAL NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL
    )""",
    _RESOLVED,
    *_INDEXES,
)


def _postgres(statement: str) -> str:
    typed = statement.replace(" REAL", " DOUBLE PRECISION")
    return typed.replace("id TEXT PRIMARY KEY", 'id TEXT COLLATE "C" PRIMARY KEY')


POSTGRES_SCHEMA = (
    _postgres(_RUNS),
    """CREATE TABLE IF NOT EXISTS events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL
    )""",
    _postgres(_RESOLVED),
    # One row per runner (a worker process's pool): who it is, and until when (the database's clock) the
    # runs it claimed are its own.
    """CREATE TABLE IF NOT EXISTS leases (
        owner TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
        renewed_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL
    )""",
    *_INDEXES,
)


def schema_for(database: Database) -> tuple[str, ...]:
    return POSTGRES_SCHEMA if database.kind == "postgresql" else SQLITE_SCHEMA


def migrate(database: Database, db: Connection) -> None:
    """Columns later versions added to `runs`, added to an older audit log, whose rows keep loading.

    Runs that had ended before verdicts were recorded get the outcome "" (settled, no verdict recorded),
    so the outcome counters do not count a whole history once at the upgrade."""
    have = database.columns(db, "runs")
    if "ends_at" not in have:
        db.execute("ALTER TABLE runs ADD COLUMN ends_at TEXT")
    if "outcome" not in have:
        db.execute("ALTER TABLE runs ADD COLUMN outcome TEXT")
        db.execute("UPDATE runs SET outcome = '' WHERE state NOT IN ('queued', 'running')")
