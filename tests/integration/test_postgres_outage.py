"""A shared database that goes away under a running `perfbudget serve`: the webhook, a run by hand and the summary
(whose minute frames are in it) answer 503 with Retry-After (Alertmanager retries a 5xx; a 500 would say the
exporter is broken), beacons still answer 200 (the hot path never touches the database), and once the database
is back the retried delivery makes its run. The outage is real: the database stops taking connections and every
session on it is cut (PostgreSQL's ALLOW_CONNECTIONS false and pg_terminate_backend)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ..playbooks.conftest import alert, payload
from .postgres import Postgres, postgres_server
from .stack import Server, beacon, exporter, http, wait_for

pytestmark = pytest.mark.integration
TOKEN = "outage-test-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


def _connections(pg: Postgres, allowed: bool) -> None:
    with psycopg.connect(pg.url(), autocommit=True) as db:
        db.execute(f"ALTER DATABASE outage WITH ALLOW_CONNECTIONS {'true' if allowed else 'false'}")
        if not allowed:
            db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'outage'")


def test_a_database_outage_is_a_503_and_the_retry_after_it_makes_the_run(pg: Postgres, tmp_path: Path) -> None:
    url = pg.create_database("outage")
    config = {"auth": {"tokens": [{"name": "am", "token": TOKEN, "scopes": ["webhook", "read", "execute"]}]}}
    with exporter(tmp_path, workers=1, config=config, env={"PERFBUDGET_DATABASE_URL": url}) as srv:
        delivery = payload(alert(fingerprint="outage0000000001", starts_at="2026-12-02T10:00:00.000Z"))
        _connections(pg, allowed=False)
        try:
            status, body = http("POST", f"{srv.url}/api/alertmanager", delivery, BEARER)
            assert status == 503, body
            assert body["error"].startswith("audit log unavailable, retry later: ")
            status, body = http("POST", f"{srv.url}/api/perf-fix", {"playbookId": "optimize-images"}, BEARER)
            assert status == 503 and body["error"].startswith("cannot queue the run now, retry later"), body
            assert http("POST", f"{srv.url}/api/web-vitals", [beacon("LCP", 1200, "during-outage")])[0] == 200
            status, body = http("GET", f"{srv.url}/api/web-vitals?window=1h", headers=BEARER)
            assert status == 503 and body["error"].startswith("the store is busy or unreachable, retry later"), body
            time.sleep(3)  # the playbook workers poll every second meanwhile: each says so once, no traceback
            log = srv.output()
            assert 1 <= log.count("the audit log cannot be read now") <= 4 and "Traceback" not in log, log[-3000:]
        finally:
            _connections(pg, allowed=True)
        status, body = wait_for(lambda: _accepted(srv, delivery), 30, what="the webhook once the database is back")
        assert status == 200, body
        status, listing = http("GET", f"{srv.url}/api/perf-fix/runs?playbook=optimize-images", BEARER)
        assert status == 200 and [r["alert"]["fingerprint"] for r in listing["runs"]] == ["outage0000000001"]


def _accepted(srv: Server, delivery: dict[str, object]) -> tuple[int, object] | None:
    status, body = http("POST", f"{srv.url}/api/alertmanager", delivery, BEARER)
    return (status, body) if status != 503 else None
