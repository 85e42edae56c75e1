"""The playbooks API and the `perfbudget playbooks` command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from perfbudget.cli import main

from .conftest import BEARER, TOKEN, EchoKind, alert, get, payload, post, runner_of, wait_run


def test_playbooks_are_listed_and_filtered_by_metric_and_impact(client: FlaskClient) -> None:
    every = get(client, "/api/perf-fix").json
    assert "optimize-images" in {b["id"] for b in every["playbooks"]} and every["maxRisk"] == "safe"
    lcp = get(client, "/api/perf-fix?metric=lcp&impact=high").json["playbooks"]
    assert [b["id"] for b in lcp] == ["optimize-images", "render-blocking-resources", "test-images"]
    for book in every["playbooks"]:  # the founding contract's fields and types; `metrics` beside `metric`
        for name, kind in {"id": str, "name": str, "metric": str, "category": str, "impact": str, "effort": str,
                           "description": str, "expectedImprovement": str, "actions": list, "metrics": list}.items():
            assert isinstance(book[name], kind), (book["id"], name)
        assert book["metric"] == book["metrics"][0]
        for action in book["actions"]:
            assert [type(action[k]) for k in ("id", "description", "automated", "risk")] == [str, str, bool, str]
    assert {b["id"]: b["metrics"] for b in every["playbooks"]}["render-blocking-resources"] == ["LCP", "FCP"]
    assert lcp[0]["actions"][0] == {"id": "convert-modern-formats", "description": lcp[0]["actions"][0]["description"],
                                    "kind": "images", "automated": True, "risk": "safe"}
    assert get(client, "/api/perf-fix?impact=huge").json == {
        "ok": False, "error": "impact: 'huge' is not one of low, medium, high"}
    unknown = get(client, "/api/perf-fix?metric=LCPX")
    assert unknown.status_code == 400 and unknown.json["ok"] is False
    assert unknown.json["error"].startswith("metric: 'LCPX' is not one of CLS, FCP, INP, LCP, TTFB, ")
    assert unknown.json["error"].endswith("(did you mean LCP?)")


def test_an_unknown_playbook_is_a_400_naming_the_valid_ones(client: FlaskClient) -> None:
    answer = post(client, "/api/perf-fix", {"playbookId": "optimise-images"})
    assert answer.status_code == 400
    assert answer.json["error"].startswith("playbookId: 'optimise-images': no such playbook; valid: ")
    assert "optimize-images" in answer.json["error"]


@pytest.mark.parametrize(("body", "error"), [
    ({"playbookId": "test-images", "dryRun": "no"}, "dryRun: 'no': must be true or false"),
    ({"playbookId": "test-images", "autoApprove": 1}, "autoApprove: 1: must be true or false"),
    ([1], 'body: must be a JSON object like {"playbookId": "optimize-images", "dryRun": true}'),
])
def test_a_bad_request_body_is_a_400(client: FlaskClient, body: object, error: str) -> None:
    answer = post(client, "/api/perf-fix", body)
    assert answer.status_code == 400 and answer.json == {"ok": False, "error": error}


def test_a_dry_run_needs_no_token_and_is_recorded_with_who_asked(app: Flask, client: FlaskClient) -> None:
    answer = post(client, "/api/perf-fix", {"playbookId": "test-images"})
    assert answer.status_code == 202
    assert answer.headers["Location"] == f"/api/perf-fix/runs/{answer.json['id']}"
    assert answer.json["mode"] == "dry-run" and answer.json["state"] == "queued"
    # The contract's estimatedCompletionTime is a duration ("~15 seconds"); the time it stands for stays beside it.
    assert answer.json["estimatedCompletionAt"].endswith("Z") and answer.json["estimatedCompletionTime"].startswith("~")
    run = wait_run(runner_of(app), answer.json["id"])
    assert run.trigger == {"type": "manual", "token": None, "client": "127.0.0.1"}


def test_an_execute_needs_a_token_with_the_execute_scope(pb_app: Callable[..., Flask]) -> None:
    app = pb_app(playbooks={"execute": ["test-images"]},
                 auth={"tokens": [{"name": "am", "token": TOKEN, "scopes": ["webhook"]}]})
    client = app.test_client()
    body = {"playbookId": "test-images", "dryRun": False}
    assert post(client, "/api/perf-fix", body).status_code == 401
    assert post(client, "/api/perf-fix", body, headers=BEARER).status_code == 401


def test_an_execute_of_a_playbook_not_in_the_allowlist_is_refused(client: FlaskClient) -> None:
    answer = post(client, "/api/perf-fix", {"playbookId": "test-images", "dryRun": False}, headers=BEARER)
    assert answer.status_code == 403
    assert answer.json["error"] == ("playbook 'test-images' may not execute: list it in playbooks.execute in the "
                                    "config (every other run is a dry run)")


def test_an_allowed_execute_records_the_tokens_name(pb_app: Callable[..., Flask]) -> None:
    app = pb_app(playbooks={"execute": ["test-images"]})
    answer = post(app.test_client(), "/api/perf-fix", {"playbookId": "test-images", "dryRun": False},
                                    headers=BEARER)
    assert answer.status_code == 202
    run = wait_run(runner_of(app), answer.json["id"])
    assert run.mode == "execute" and run.trigger["token"] == "ci"


def test_the_audit_log_lists_runs_newest_first_and_pages(app: Flask, client: FlaskClient) -> None:
    ids = [post(client, "/api/perf-fix", {"playbookId": "test-images"}).json["id"] for _ in range(3)]
    page = get(client, "/api/perf-fix/runs?limit=2").json
    assert [r["id"] for r in page["runs"]] == ids[::-1][:2] and page["next"] == ids[1]
    rest = get(client, f"/api/perf-fix/runs?limit=2&before={page['next']}").json
    assert [r["id"] for r in rest["runs"]] == [ids[0]] and rest["next"] is None
    assert get(client, "/api/perf-fix/runs?state=exploded").status_code == 400
    assert get(client, "/api/perf-fix/runs?limit=0").status_code == 400
    missing = get(client, "/api/perf-fix/runs/0000000000a-00000000aa")
    assert missing.status_code == 404 and missing.json == {"ok": False, "error": "no run '0000000000a-00000000aa'"}


def test_runs_started_by_hand_fill_only_half_the_queue_so_the_webhook_keeps_room(
    pb_app: Callable[..., Flask],
) -> None:
    app = pb_app(playbooks={"queue_size": 6})
    runner_of(app).close()  # nothing leaves the queue
    client = app.test_client()
    answers = [post(client, "/api/perf-fix", {"playbookId": "test-images"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 503]
    assert answers[-1].headers["Retry-After"] == "5"
    assert answers[-1].json["error"] == (
        "cannot queue the run now, retry later: the share of the queue for runs started by hand is full: 3 are "
        "queued (at most 3, half of playbooks.queue_size 6; the rest is kept for the Alertmanager webhook)")
    # A delivery starting three runs (the LCP alert: optimize-images and test-images; an FCP alert:
    # render-blocking-resources) still finds room for them.
    alerts = payload(alert(), alert(fingerprint="fp-fcp", metric="FCP", budget="fcp"))
    delivery = post(client, "/api/alertmanager", alerts, headers=BEARER)
    assert delivery.status_code == 200 and [r["state"] for r in delivery.json["runs"]] == ["queued"] * 3


def test_runs_started_by_hand_are_rate_limited_per_client_address(pb_app: Callable[..., Flask]) -> None:
    app = pb_app(playbooks={"manual_rate_limit": "2/minute"})
    client = app.test_client()
    codes = [post(client, "/api/perf-fix", {"playbookId": "test-images"}).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    refused = post(client, "/api/perf-fix", {"playbookId": "test-images"})
    assert int(refused.headers["Retry-After"]) >= 1
    assert "playbooks.manual_rate_limit 2/minute" in refused.json["error"]
    other = client.post("/api/perf-fix", json={"playbookId": "test-images"}, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 202


def test_old_dry_runs_leave_the_audit_log_at_start_and_executes_stay(
    pb_app: Callable[..., Flask], tmp_path: Path
) -> None:
    import time

    from perfbudget.playbooks.store import Store, audit_path, recover_interrupted

    app = pb_app(playbooks={"execute": ["test-images"], "retention_days": 30})
    runner = runner_of(app)
    dry = post(app.test_client(), "/api/perf-fix", {"playbookId": "test-images"}).json["id"]
    wet = post(app.test_client(), "/api/perf-fix", {"playbookId": "test-images", "dryRun": False},
               headers=BEARER).json["id"]
    wait_run(runner, dry)
    wait_run(runner, wet)
    runner.close()
    config = runner.config
    with Store(audit_path(config))._transaction() as db:  # both runs are now 31 days old
        db.execute("UPDATE runs SET created_at = ?", (time.time() - 31 * 86400,))
    recover_interrupted(config)
    store = Store(audit_path(config))
    assert store.get(dry) is None
    kept = store.get(wet, events=True)
    assert kept is not None and kept.mode == "execute" and kept.events


def _cli_config(tmp_path: Path, book_dir: Path) -> Path:
    path = tmp_path / "cli.yml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "cli-data"),
                                    "playbooks": {"directory": str(book_dir), "execute": ["test-images"]}}))
    return path


def test_the_command_line_lists_shows_and_runs_playbooks(
    tmp_path: Path, book_dir: Path, echo: EchoKind, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_cli_config(tmp_path, book_dir))
    assert main(["playbooks", "list", "--config.file", config, "--metric", "INP"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "METRIC", "IMPACT", "EFFORT", "ACTIONS", "NAME"]
    assert out[1].split()[:5] == ["reduce-js-execution", "INP", "high", "high", "2"]

    assert main(["playbooks", "show", "test-images", "--config.file", config]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["actions"][0]["params"] == {"note": "safe step", "bytes_before": 1000, "sleep": 0.0, "fail": False}

    assert main(["playbooks", "run", "test-images", "--config.file", config]) == 0
    captured = capsys.readouterr()
    run = json.loads(captured.out)
    assert run["mode"] == "dry-run" and run["state"] == "succeeded" and run["trigger"]["type"] == "cli"
    assert "test-images: [3/3] manual-step: previewed" in captured.err

    assert main(["playbooks", "run", "test-images", "--execute", "--config.file", config]) == 0
    executed = json.loads(capsys.readouterr().out)
    assert [a["id"] for a in executed["executedActions"]] == ["safe-step"]

    assert main(["playbooks", "rollback", executed["id"], "--config.file", config]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "rolled-back"
    assert main(["playbooks", "rollback", run["id"], "--config.file", config]) == 1
    assert "is a dry-run run in state succeeded: nothing to roll back" in capsys.readouterr().err


def test_the_command_line_refuses_an_unknown_playbook_and_a_forbidden_execute(
    tmp_path: Path, book_dir: Path, echo: EchoKind, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_cli_config(tmp_path, book_dir))
    assert main(["playbooks", "run", "nope", "--config.file", config]) == 2
    assert "no playbook 'nope'; known: " in capsys.readouterr().err
    assert main(["playbooks", "run", "optimize-images", "--execute", "--config.file", config]) == 2
    assert "optimize-images may not execute: list it in playbooks.execute" in capsys.readouterr().err
