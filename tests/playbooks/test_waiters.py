"""The bounded wait of POST /api/perf-fix (playbooks/waiters.py): at most `slots` answers wait, none past the
bound, a run this process ends wakes its waiter, and a run another process executes is seen in the log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from flask import Flask

from perfbudget.config import Config, load_config
from perfbudget.config.errors import ConfigError
from perfbudget.playbooks.records import NewRun
from perfbudget.playbooks.store import Store
from perfbudget.playbooks.waiters import AnswerWaiters, Completions, waiter_slots
from perfbudget.web.perffix import answer_waiters

from .conftest import EchoKind, post


def _config(tmp_path: Path, **playbooks: object) -> Config:
    path = tmp_path / "perfbudget.yml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "server": {"threads": 5},
                                    "playbooks": playbooks}))
    return load_config(path, env={})


def test_the_slots_are_the_setting_at_most_the_request_threads_less_one(tmp_path: Path) -> None:
    assert waiter_slots(_config(tmp_path)) == 2
    assert waiter_slots(_config(tmp_path, answer_waiters=9)) == 4
    assert waiter_slots(_config(tmp_path, answer_wait_seconds=0)) == 0


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("answer_wait_seconds", 90, "playbooks.answer_wait_seconds: 90: must be from 0 to 60 seconds (0: never wait"),
    ("answer_waiters", -1, "playbooks.answer_waiters: -1: must be from 0 to 64 answers per worker process"),
])
def test_a_setting_out_of_bounds_is_refused_saying_the_bounds_and_why(tmp_path: Path, setting: str, value: int,
                                                                     message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, **{setting: value})
    assert message in str(info.value)


def test_a_run_ended_by_this_process_wakes_its_waiter_and_excess_answers_do_not_wait(
    pb_app: Callable[..., Flask], echo: EchoKind,
) -> None:
    app = pb_app(playbooks={"answer_wait_seconds": 30, "answer_waiters": 1})
    echo.gate = threading.Event()  # every action waits until the test opens the gate
    client = app.test_client()
    answers: list[dict[str, object]] = []
    first = threading.Thread(target=lambda: answers.append(post(client, "/api/perf-fix",
                                                                {"playbookId": "test-images"}).json))
    first.start()
    # Wait until the first answer holds the only slot (its run is running, held at the gate).
    waiters, deadline = answer_waiters(app), time.monotonic() + 30
    while waiters.waiting < 1 and time.monotonic() < deadline:
        first.join(0.01)
    assert waiters.waiting == 1
    second = post(client, "/api/perf-fix", {"playbookId": "test-images"})
    assert second.status_code == 202 and second.json["wait"]["waited"] is False
    assert "1 answer(s) are waiting already" in second.json["wait"]["reason"]
    echo.gate.set()
    first.join(30)
    assert not first.is_alive() and answers[0]["state"] == "succeeded"
    wait = answers[0]["wait"]
    assert isinstance(wait, dict) and wait["waited"] is True and wait["reason"] == "the run ended"


def test_a_run_another_process_executes_is_seen_in_the_audit_log(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.sqlite")
    run = store.submit(NewRun("p", "dry-run", {"type": "manual"}), queue_size=10)
    # Nobody signals these completions: only reading the log can see the run end.
    waiters = AnswerWaiters(store, Completions(), seconds=30, slots=1, poll=0.05)
    done = threading.Event()

    def other_process() -> None:
        claimed = store.claim("other-owner", 1)
        assert claimed is not None and claimed.id == run.id
        done.wait(30)
        store.finish(run.id, "succeeded", "done elsewhere", claimed.result)

    thread = threading.Thread(target=other_process)
    thread.start()
    timer = threading.Timer(0.3, done.set)
    timer.start()
    waited = waiters.wait(run)
    thread.join(30)
    assert waited.ended and waited.waited and waited.run is not None and waited.run.message == "done elsewhere"


def test_a_wait_ends_at_its_bound_and_frees_its_slot(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.sqlite")
    run = store.submit(NewRun("p", "dry-run", {"type": "manual"}), queue_size=10)
    waiters = AnswerWaiters(store, Completions(), seconds=0.2, slots=1, poll=0.05)
    first = waiters.wait(run)
    assert first.waited and not first.ended and first.reason.startswith("the run had not ended after ")
    assert waiters.wait(run).waited  # the slot is free again
    assert waiters.waiting == 0
