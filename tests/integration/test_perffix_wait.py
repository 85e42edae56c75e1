"""Issue 12, point 1: the bounded wait of `POST /api/perf-fix` does not reopen the slow-client hole.

A dozen slow clients trickle beacon bodies while more executes are posted than `playbooks.answer_waiters`
lets wait. The run they ask for takes longer than `playbooks.answer_wait_seconds` (a `sleep` the config
allowlists), so the answers that wait end with a 202 at the bound; the others get their 202 without waiting,
saying why; `/-/healthy` answers all along. One worker process, so the per-process count is exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .stack import Server, beacon, exporter, http, trickle_beacon, wait_for

pytestmark = pytest.mark.integration
TOKEN = "perffix-wait-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SLOW_CLIENTS = 12
WAITERS = 2
POSTS = 6  # more than WAITERS
WAIT_SECONDS = 12
NAP_SECONDS = 30  # longer than the wait: the run never ends while an answer waits for it
NAP = {
    "id": "nap", "name": "Nap", "metric": "LCP", "category": "test", "impact": "low", "effort": "low",
    "description": "Sleeps: a run that outlasts the answer's wait.", "expectedImprovement": "none",
    "actions": [{"id": "sleep", "description": "Sleep", "kind": "command", "automated": True, "risk": "safe",
                 "params": {"command": "nap", "args": [str(NAP_SECONDS)], "timeout_seconds": 120}}],
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("perffix-wait")
    site, books = tmp / "site", tmp / "books"
    site.mkdir()
    books.mkdir()
    (books / "nap.yaml").write_text(yaml.safe_dump(NAP))
    config = {
        "site_root": str(site),
        "auth": {"tokens": [{"name": "ci", "token": TOKEN}]},
        "server": {"threads": 6},
        "actions": {"commands": {"nap": ["sleep"]}},
        "playbooks": {"directory": str(books), "execute": ["nap"], "cooldown_seconds": 0,
                      "answer_wait_seconds": WAIT_SECONDS, "answer_waiters": WAITERS},
    }
    with exporter(tmp, config=config, workers=1) as srv:
        yield srv


def test_excess_posts_get_202_at_once_and_the_server_stays_healthy_under_slow_clients(served: Server) -> None:
    stop = threading.Event()
    slow = [threading.Thread(target=trickle_beacon, args=(served.port, stop), daemon=True) for _ in range(SLOW_CLIENTS)]
    answers: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def post() -> None:
        got = http("POST", f"{served.url}/api/perf-fix", {"playbookId": "nap", "dryRun": False, "autoApprove": True},
                   BEARER, timeout=WAIT_SECONDS + 30)
        with lock:
            answers.append(got)

    posts = [threading.Thread(target=post, daemon=True) for _ in range(POSTS)]
    for thread in slow:
        thread.start()
    try:
        time.sleep(1.0)  # every slow client is now mid-body
        for thread in posts:
            thread.start()
        # The answers that found no free waiter come back without waiting, while the others still wait.
        wait_for(lambda: len(answers) >= POSTS - WAITERS, WAIT_SECONDS + 20, what="the answers that do not wait")
        healthy = 0
        while any(thread.is_alive() for thread in posts):
            status, _ = http("GET", f"{served.url}/-/healthy", timeout=5)
            assert status == 200
            healthy += 1
            time.sleep(0.2)
        assert healthy >= 1
        status, answer = http("POST", f"{served.url}/api/web-vitals", [beacon("INP", 90, "fast")], timeout=5)
        assert status == 200 and answer["received"] == 1
    finally:
        stop.set()
        for thread in slow + posts:
            thread.join(WAIT_SECONDS + 30)
    assert [status for status, _ in answers] == [202] * POSTS, answers
    waited = [body["wait"] for _, body in answers if body["wait"]["waited"]]
    turned_away = [body["wait"] for _, body in answers if not body["wait"]["waited"]]
    assert len(waited) == WAITERS, answers
    assert {w["reason"] for w in waited} == {
        f"the run had not ended after playbooks.answer_wait_seconds ({WAIT_SECONDS} s): poll it"}
    assert {w["reason"] for w in turned_away} == {
        f"{WAITERS} answer(s) are waiting already in this worker process (playbooks.answer_waiters): poll the run"}
    for _, body in answers:  # a 202 still says what is known, and where to poll
        assert body["state"] in ("queued", "running") and body["poll"] == f"/api/perf-fix/runs/{body['id']}"
        assert body["mode"] == "executed" and isinstance(body["estimatedCompletionTime"], str)


def test_an_answer_waits_for_a_run_another_worker_executes(tmp_path: Path) -> None:
    """Two workers share the audit log as their queue: whichever claims a run (the one that took the POST,
    which wakes at once, or the other, which the wait sees in the log), the answer is the ended run."""
    with exporter(tmp_path, config={"playbooks": {"cooldown_seconds": 0}}, workers=2) as srv:
        for _ in range(8):
            status, answer = http("POST", f"{srv.url}/api/perf-fix", {"playbookId": "layout-stability",
                                                                      "dryRun": True}, timeout=30)
            assert status == 200 and answer["state"] == "succeeded", answer
            assert answer["wait"]["waited"] is True and answer["wait"]["reason"] == "the run ended"
