"""The attribution top-K's shared-database side without a database that answers: a real PostgresDatabase
pointed at a port nobody listens on (libpq refuses at once). Nothing raises into a reader, the outage is
logged once without the password, and a worker's tables stay whole in memory for the next flush."""

from __future__ import annotations

import logging
import socket

import pytest

from perfbudget.attribution import AttributionStore
from perfbudget.attribution_db import WorkerRows
from perfbudget.db import DatabaseUnreachable, PostgresDatabase


@pytest.fixture
def unreachable() -> PostgresDatabase:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nobody listens there
    return PostgresDatabase(f"postgresql://perfbudget:hunter2-secret@127.0.0.1:{port}/perfbudget", connect_timeout=1)


def test_a_database_that_does_not_answer_is_logged_once_and_readers_keep_answering(
        unreachable: PostgresDatabase, caplog: pytest.LogCaptureFixture) -> None:
    rows = WorkerRows(unreachable, "host-1-abc")
    caplog.set_level(logging.WARNING, "perfbudget.shared_store")
    for _ in range(3):
        with pytest.raises(DatabaseUnreachable):
            rows.write([(("lcp.url", "/"), {"https://shop.test/a.jpg": 3})])
        rows.touch(every=0)
        assert rows.merge_past(5, 0) == 0
        assert rows.index().by_route == {}
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1, messages
    assert "does not answer (attribution top-K)" in messages[0] and "hunter2" not in messages[0]
    assert "postgresql://perfbudget:***@127.0.0.1" in messages[0]
    assert rows.writes == 0 and rows.outage.down


def test_a_worker_s_tables_survive_failed_flushes_whole(unreachable: PostgresDatabase) -> None:
    store = AttributionStore(None, 5)
    store.shared = WorkerRows(unreachable, "host-1-abc")  # as database=... would, without preparing the schema
    for _ in range(7):
        store.record("LCP", "/", {"url": "https://shop.test/hero.jpg"})
    for _ in range(2):
        with pytest.raises(DatabaseUnreachable):
            store.flush()  # still dirty after the first failure: the second tries the write again
    store.close()  # stopping with the database down: no exception
    assert store.top("lcp.url", "/") == [("https://shop.test/hero.jpg", 7)]
