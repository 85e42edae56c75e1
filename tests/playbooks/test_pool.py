"""The worker pool: the per-playbook concurrency limit, and runs of dead processes found by live workers."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from flask import Flask

from .conftest import EchoKind, post, runner_of, wait_run


def test_the_concurrency_limit_holds_runs_of_one_playbook_until_a_slot_frees(
    pb_app: Callable[..., Flask], echo: EchoKind
) -> None:
    app = pb_app(playbooks={"max_concurrent_per_playbook": 1, "worker_threads": 4})
    echo.gate = threading.Event()
    client = app.test_client()
    ids = [post(client, "/api/perf-fix", {"playbookId": "test-images"}).json["id"] for _ in range(3)]
    runner = runner_of(app)
    time.sleep(0.5)
    states = [runner.store.get(i).state for i in ids]  # type: ignore[union-attr]
    assert sorted(states) == ["queued", "queued", "running"]
    echo.gate.set()
    finished = [wait_run(runner, i) for i in ids]
    spans = sorted((r.started_at or 0, r.finished_at or 0) for r in finished)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # never two at once



def test_a_running_run_whose_process_died_is_interrupted_by_the_live_workers(
    app: Flask, echo: EchoKind
) -> None:
    runner = runner_of(app)
    runner.close()
    run = runner.submit_manual("test-images", execute=False, auto_approve=False, trigger={"type": "manual"})
    assert runner.store.claim("999999999:gone", 5) is not None
    runner.start()
    assert wait_run(runner, run.id).state == "interrupted"
