"""One run: risk filtering in execute mode, timeouts, failing actions, failures outside the actions."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from prometheus_client import CollectorRegistry

from perfbudget.config import Config
from perfbudget.playbooks import build_runner, load_playbooks
from perfbudget.playbooks.records import Run, RunResult, RunState

from .conftest import BEARER, EchoKind, get, playbook, post, runner_of, wait_run


def _execute(app: Flask, auto_approve: bool) -> Any:
    client = app.test_client()
    answer = post(client, "/api/perf-fix", {"playbookId": "test-images", "dryRun": False,
                                                "autoApprove": auto_approve}, headers=BEARER)
    assert answer.status_code == 202, answer.json
    wait_run(runner_of(app), answer.json["id"])
    shown = get(client, f"/api/perf-fix/runs/{answer.json['id']}").json
    return shown



def test_an_execute_applies_only_automated_actions_within_the_allowed_risk(
    pb_app: Callable[..., Flask], echo: EchoKind
) -> None:
    app = pb_app(playbooks={"execute": ["test-images"], "max_risk": "moderate"})
    shown = _execute(app, auto_approve=True)
    assert shown["mode"] == "execute" and shown["state"] == "succeeded"
    assert [a["id"] for a in shown["executedActions"]] == ["safe-step", "moderate-step"]
    pending = shown["pendingManualActions"]
    assert [(p["id"], p["reason"]) for p in pending] == [("manual-step", "manual: a person has to do this")]
    assert pending[0]["preview"]["summary"] == "would manual step"
    assert shown["message"] == "executed 2 of 3 actions; 1 pending manual action(s)"
    assert [c[0] for c in echo.calls] == ["apply", "apply", "preview"]



def test_without_auto_approve_an_execute_by_hand_applies_only_safe_actions(
    pb_app: Callable[..., Flask], echo: EchoKind
) -> None:
    app = pb_app(playbooks={"execute": ["test-images"], "max_risk": "high"})
    shown = _execute(app, auto_approve=False)
    assert [a["id"] for a in shown["executedActions"]] == ["safe-step"]
    reasons = {p["id"]: p["reason"] for p in shown["pendingManualActions"]}
    assert reasons["moderate-step"] == "risk moderate is above the allowed safe (playbooks.max_risk; autoApprove)"



def test_max_risk_caps_even_an_auto_approved_execute(pb_app: Callable[..., Flask], echo: EchoKind) -> None:
    app = pb_app(playbooks={"execute": ["test-images"]})  # max_risk defaults to safe
    shown = _execute(app, auto_approve=True)
    assert [a["id"] for a in shown["executedActions"]] == ["safe-step"]



def test_an_action_over_its_timeout_fails_the_run_and_stops_later_applies(
    pb_app: Callable[..., Flask], echo: EchoKind, book_dir: Path
) -> None:
    book = playbook()
    book["actions"][0]["params"] = {"note": "slow", "sleep": 2.0}
    book["actions"][1]["risk"] = "safe"
    (book_dir / "test-images.yaml").write_text(yaml.safe_dump(book))
    app = pb_app(playbooks={"execute": ["test-images"], "action_timeout_seconds": 0.2})
    started = time.monotonic()
    shown = _execute(app, auto_approve=True)
    assert time.monotonic() - started < 1.5
    assert shown["state"] == "failed"
    actions = shown["actions"]
    assert actions[0]["status"] == "failed"
    assert actions[0]["error"] == "timed out after 0.2s (playbooks.action_timeout_seconds)"
    reasons = {p["id"]: p["reason"] for p in shown["pendingManualActions"]}
    assert reasons["moderate-step"] == "not applied: an earlier action failed"
    assert shown["executedActions"] == []
    assert shown["message"].endswith("failed: safe-step")



def test_a_failing_preview_fails_the_dry_run_but_the_other_previews_are_kept(
    pb_app: Callable[..., Flask], echo: EchoKind, book_dir: Path, registry: CollectorRegistry
) -> None:
    book = playbook()
    book["actions"][1]["params"] = {"note": "broken", "fail": True}
    (book_dir / "test-images.yaml").write_text(yaml.safe_dump(book))
    app = pb_app()
    client = app.test_client()
    run_id = post(client, "/api/perf-fix", {"playbookId": "test-images"}).json["id"]
    run = wait_run(runner_of(app), run_id)
    assert run.state == "failed"
    assert [a.status for a in run.result.actions] == ["previewed", "failed", "previewed"]
    assert run.result.actions[1].error == "broken: refused"
    assert registry.get_sample_value(
        "perfbudget_playbook_runs_total", {"playbook": "test-images", "mode": "dry-run", "outcome": "failed"}) == 1



def test_a_failure_outside_the_actions_fails_the_run_and_frees_its_playbook(
    pb_app: Callable[..., Flask], echo: EchoKind, monkeypatch: Any
) -> None:
    app = pb_app(playbooks={"max_concurrent_per_playbook": 1, "worker_threads": 1})
    runner = runner_of(app)
    real_progress = runner.store.progress
    failures = iter([sqlite3.OperationalError("disk I/O error")])

    def progress(run_id: str, result: RunResult, message: str) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        real_progress(run_id, result, message)

    monkeypatch.setattr(runner.store, "progress", progress)
    client = app.test_client()
    first = post(client, "/api/perf-fix", {"playbookId": "test-images"}).json["id"]
    run = wait_run(runner, first)
    assert run.state == "failed"
    assert run.message == "failed outside its actions: OperationalError: disk I/O error"
    assert run.events[-1]["event"] == "failed" and run.events[-1]["message"] == run.message
    assert run.result.actions[0].status == "previewed"  # what was done before the failure is kept
    # The playbook's only concurrency slot is free again.
    second = post(client, "/api/perf-fix", {"playbookId": "test-images"}).json["id"]
    assert wait_run(runner, second).state == "succeeded"



def test_a_failed_final_write_is_retried_once(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path, monkeypatch: Any
) -> None:
    config = make_config(playbooks={"directory": str(book_dir)})
    runner = build_runner(config, load_playbooks(config))
    real_finish = runner.store.finish
    calls: list[str] = []

    def finish(run_id: str, state: RunState, message: str, result: RunResult) -> Run:
        calls.append(state)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real_finish(run_id, state, message, result)

    monkeypatch.setattr(runner.store, "finish", finish)
    run = runner.submit_manual("test-images", execute=False, auto_approve=False, trigger={"type": "cli"})
    done = runner.run_now(run.id)
    assert calls == ["succeeded", "succeeded"]
    assert done.state == "succeeded" and runner.store.get(run.id).state == "succeeded"  # type: ignore[union-attr]
