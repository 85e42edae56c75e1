"""The runner: risk filtering in execute mode, timeouts, concurrency, cooldown, recovery, rollback, verification."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from prometheus_client import CollectorRegistry

from perfbudget.config import Config
from perfbudget.metrics import scrape_registry
from perfbudget.playbooks import build_runner, load_playbooks
from perfbudget.playbooks.runner import PrometheusVerifier
from perfbudget.playbooks.store import Run, Store, audit_path, recover_interrupted

from .conftest import BEARER, EchoKind, alert, get, payload, playbook, post, runner_of, wait_run


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


def test_an_alert_executes_only_with_execute_on_alert_and_the_allowlist(
    pb_app: Callable[..., Flask], echo: EchoKind
) -> None:
    app = pb_app(playbooks={"execute": ["test-images"], "execute_on_alert": True})
    runs = post(app.test_client(), "/api/alertmanager", payload(), headers=BEARER).json["runs"]
    modes = {r["playbookId"]: r["mode"] for r in runs}
    assert modes == {"test-images": "execute", "optimize-images": "dry-run", "render-blocking-resources": "dry-run"}


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
    assert [a["status"] for a in run.result["actions"]] == ["previewed", "failed", "previewed"]
    assert run.result["actions"][1]["error"] == "broken: refused"
    assert scrape_registry(registry).get_sample_value(
        "perfbudget_playbook_runs_total", {"playbook": "test-images", "mode": "dry-run", "outcome": "failed"}) == 1


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


def test_a_second_alert_within_the_cooldown_is_recorded_as_skipped(
    pb_app: Callable[..., Flask], echo: EchoKind, registry: CollectorRegistry
) -> None:
    app = pb_app(playbooks={"cooldown_seconds": 600})
    client = app.test_client()
    first = post(client, "/api/alertmanager", payload(), headers=BEARER).json["runs"]
    # The same alert flaps: resolved, then firing again with a new startsAt.
    again = post(client, "/api/alertmanager", payload(alert(starts_at="2025-05-01T10:05:00Z")),
                        headers=BEARER).json["runs"]
    mine = next(r for r in again if r["playbookId"] == "test-images")
    original = next(r for r in first if r["playbookId"] == "test-images")
    assert mine["state"] == "skipped" and mine["id"] != original["id"]
    assert mine["message"].startswith(f"cooldown: run {original['id']} of test-images for this alert started ")
    assert mine["message"].endswith("ago (playbooks.cooldown_seconds is 600)")
    # Another alert (another route) is not held back by this one's cooldown.
    other = post(client, "/api/alertmanager", payload(alert(fingerprint="fp2", route="/")),
                        headers=BEARER).json["runs"]
    assert {r["state"] for r in other} == {"queued"}
    assert scrape_registry(registry).get_sample_value(
        "perfbudget_playbook_runs_total", {"playbook": "test-images", "mode": "dry-run", "outcome": "skipped"}) == 1


def test_after_a_crash_running_runs_are_interrupted_and_queued_runs_still_run(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path, pb_app: Callable[..., Flask]
) -> None:
    config = make_config(playbooks={"directory": str(book_dir)})
    books = load_playbooks(config)
    dead = build_runner(config, books)  # never started: a process that will "crash"
    crashed = dead.submit_manual("test-images", execute=False, auto_approve=False, trigger={"type": "manual"})
    waiting = dead.submit_manual("test-images", execute=False, auto_approve=False, trigger={"type": "manual"})
    claimed = dead.store.claim("999999999:gone", 5)  # a worker of a process that no longer exists
    assert claimed is not None and claimed.id == crashed.id

    recovered = recover_interrupted(config)
    assert [r.id for r in recovered] == [crashed.id]
    store = Store(audit_path(config))
    run = store.get(crashed.id, events=True)
    assert run is not None and run.state == "interrupted"
    assert run.message.startswith("interrupted: the process running it (999999999:gone) ended before it finished")
    assert [e["event"] for e in run.events] == ["queued", "running", "interrupted"]
    assert store.get(waiting.id).state == "queued"  # type: ignore[union-attr]

    # The restarted server takes the queued run; the interrupted one is never re-run.
    app = pb_app()
    assert wait_run(runner_of(app), waiting.id).state == "succeeded"
    assert crashed.id not in {c[1] for c in echo.calls}


def test_a_running_run_whose_process_died_is_interrupted_by_the_live_workers(
    app: Flask, echo: EchoKind
) -> None:
    runner = runner_of(app)
    runner.close()
    run = runner.submit_manual("test-images", execute=False, auto_approve=False, trigger={"type": "manual"})
    assert runner.store.claim("999999999:gone", 5) is not None
    runner.start()
    assert wait_run(runner, run.id).state == "interrupted"


def test_rollback_undoes_the_applied_actions_newest_first(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path
) -> None:
    config = make_config(playbooks={"directory": str(book_dir), "execute": ["test-images"], "max_risk": "moderate"})
    runner = build_runner(config, load_playbooks(config))
    run = runner.submit_manual("test-images", execute=True, auto_approve=True, trigger={"type": "cli"})
    lines: list[str] = []
    done = runner.run_now(run.id, lines.append)
    files = [a["manifest"]["file"] for a in done.result["actions"] if a["status"] == "applied"]
    assert len(files) == 2 and all(Path(f).exists() for f in files)
    assert lines[0] == "test-images: [1/3] safe-step: applying"
    back = runner.rollback(run.id)
    assert back.state == "rolled-back" and back.message == "rolled back 2 action(s)"
    assert not any(Path(f).exists() for f in files)
    assert [c[2] for c in echo.calls if c[0] == "rollback"] == files[::-1]


class _FakeVerifier:
    def __init__(self) -> None:
        self.values = [3.2, 2.4]

    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> dict[str, object]:
        return {"p75": self.values.pop(0), "unit": "s", "samples": 100, "route": route}


def test_verification_compares_the_vital_before_and_after_an_execute(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path
) -> None:
    config = make_config(playbooks={"directory": str(book_dir), "execute": ["test-images"]})
    runner = build_runner(config, load_playbooks(config))
    runner.verifier = _FakeVerifier()
    run = runner.submit_manual("test-images", execute=True, auto_approve=True, trigger={"type": "cli"},
                               route="/cart")
    done = runner.run_now(run.id)
    verification = runner.to_json(done)["verification"]
    assert verification["metric"] == "LCP" and verification["route"] == "/cart"
    assert verification["before"]["p75"] == 3.2 and verification["after"]["p75"] == 2.4
    assert verification["change"] == -0.25 and verification["verdict"] == "improved"


def test_local_verification_reads_the_exporters_own_histograms(app: Flask, echo: EchoKind) -> None:
    client = app.test_client()
    beacons = [{"name": "LCP", "value": 3000, "delta": 3000, "id": f"v6-{i}", "rating": "poor",
                "navigationType": "navigate", "pageUrl": "https://shop.test/cart"} for i in range(8)]
    assert post(client, "/api/web-vitals", json=beacons).status_code == 200
    runner = runner_of(app)
    assert runner.verifier is not None
    measured = runner.verifier.p75("LCP", "/cart", time.time() - 3600, None)
    assert measured["samples"] == 8 and measured["unit"] == "ms" and 2500 < measured["p75"] <= 3000


class _BrokenVerifier:
    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> dict[str, object]:
        raise RuntimeError("database is locked")


def test_a_failing_verifier_is_recorded_as_unavailable_and_the_execute_still_runs(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path
) -> None:
    config = make_config(playbooks={"directory": str(book_dir), "execute": ["test-images"]})
    runner = build_runner(config, load_playbooks(config))
    runner.verifier = _BrokenVerifier()
    run = runner.submit_manual("test-images", execute=True, auto_approve=True, trigger={"type": "cli"})
    done = runner.run_now(run.id)
    assert done.state == "succeeded"
    assert done.result["verification"] == {"available": False,
                                           "reason": "verification unavailable: RuntimeError: database is locked"}


def test_a_failure_outside_the_actions_fails_the_run_and_frees_its_playbook(
    pb_app: Callable[..., Flask], echo: EchoKind, monkeypatch: Any
) -> None:
    app = pb_app(playbooks={"max_concurrent_per_playbook": 1, "worker_threads": 1})
    runner = runner_of(app)
    real_progress = runner.store.progress
    failures = iter([sqlite3.OperationalError("disk I/O error")])

    def progress(run_id: str, result: dict[str, Any], message: str) -> None:
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
    assert run.result["actions"][0]["status"] == "previewed"  # what was done before the failure is kept
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

    def finish(run_id: str, state: str, message: str, result: dict[str, Any]) -> Run:
        calls.append(state)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real_finish(run_id, state, message, result)

    monkeypatch.setattr(runner.store, "finish", finish)
    run = runner.submit_manual("test-images", execute=False, auto_approve=False, trigger={"type": "cli"})
    done = runner.run_now(run.id)
    assert calls == ["succeeded", "succeeded"]
    assert done.state == "succeeded" and runner.store.get(run.id).state == "succeeded"  # type: ignore[union-attr]


def test_the_prometheus_query_escapes_the_route_as_a_promql_string() -> None:
    # Nothing listens on port 9: the query is still reported, with the connection error.
    measured = PrometheusVerifier("http://127.0.0.1:9", timeout=0.5).p75("LCP", '/a"} or vector(1) #\\', 0, 3600)
    assert measured["query"] == ('histogram_quantile(0.75, sum by (le) (increase('
                                 'perfbudget_lcp_seconds_bucket{route="/a\\"} or vector(1) #\\\\"}[3600s])))')
    assert measured["error"].startswith("Prometheus query failed:")


class _CountingVerifier:
    def __init__(self) -> None:
        self.calls = 0

    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> dict[str, object]:
        self.calls += 1
        return {"p75": 3.0, "unit": "s", "samples": 10}


def test_the_console_lists_runs_without_measuring_each_one(pb_app: Callable[..., Flask], echo: EchoKind) -> None:
    app = pb_app(playbooks={"execute": ["test-images"]})
    runner = runner_of(app)
    verifier = _CountingVerifier()
    runner.verifier = verifier
    client = app.test_client()
    run_id = post(client, "/api/perf-fix", {"playbookId": "test-images", "dryRun": False}, headers=BEARER).json["id"]
    run = wait_run(runner, run_id)
    assert verifier.calls == 1  # the "before", measured when the execute started
    assert runner.to_json(run, verify=False)["verification"]["before"]["p75"] == 3.0
    assert client.get("/").status_code == 200
    assert verifier.calls == 1
    assert get(client, f"/api/perf-fix/runs/{run_id}").json["verification"]["after"]["p75"] == 3.0
    assert verifier.calls == 2


def test_a_data_source_that_fails_after_the_run_leaves_the_run_readable(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path
) -> None:
    config = make_config(playbooks={"directory": str(book_dir), "execute": ["test-images"]})
    runner = build_runner(config, load_playbooks(config))
    runner.verifier = _FakeVerifier()
    done = runner.run_now(runner.submit_manual("test-images", execute=True, auto_approve=True,
                                               trigger={"type": "cli"}).id)
    runner.verifier = _BrokenVerifier()
    verification = runner.to_json(done)["verification"]
    assert verification["before"]["p75"] == 3.2 and verification["verdict"] == "verification unavailable"
    assert verification["after"]["error"] == "verification unavailable: RuntimeError: database is locked"
