"""Shared SQLite files: workers that start together all open them (a race that once crashed a worker)."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from perfbudget.sqlite import prepare

SCHEMA = ("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)", "CREATE INDEX IF NOT EXISTS t_k ON t (k)")


def _open(path: str, go: multiprocessing.synchronize.Event, results: multiprocessing.Queue[str]) -> None:
    go.wait()
    try:
        prepare(Path(path), SCHEMA)
        results.put("ok")
    except Exception as exc:  # reported to the test, which shows it
        results.put(repr(exc))


@pytest.mark.parametrize("round_", range(5))  # the race hit about one round in three before the fix
def test_many_processes_preparing_one_file_at_once_all_succeed_in_wal_mode(tmp_path: Path, round_: int) -> None:
    # spawn, not fork: forking a test process that runs other tests' threads can deadlock the child.
    ctx = multiprocessing.get_context("spawn")
    path = str(tmp_path / "shared.sqlite")
    go = ctx.Event()
    results: multiprocessing.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_open, args=(path, go, results)) for _ in range(8)]
    for proc in procs:
        proc.start()
    go.set()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(10)
    assert outcomes == ["ok"] * 8
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == [("t",)]
