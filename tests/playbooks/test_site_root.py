"""Without a site root, the actions that work on the site's files are skipped, not failed: a dry run of the
bundled optimize-images on the embedded defaults says what it needs and the run succeeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from perfbudget.playbooks.actions.paths import NEEDS_SITE_ROOT

from .conftest import BEARER, TOKEN, get, post, runner_of, wait_run


def _dry_run(app: Flask, playbook: str) -> Any:
    client = app.test_client()
    answer = post(client, "/api/perf-fix", {"playbookId": playbook, "dryRun": True})
    assert answer.status_code in (200, 202), answer.json
    run_id = answer.json.get("id") or answer.json.get("runId")
    wait_run(runner_of(app), run_id)
    return get(client, f"/api/perf-fix/runs/{run_id}").json


def test_a_dry_run_without_a_site_root_skips_the_file_actions_and_fails_nothing(
    make_app: Callable[..., Flask],
) -> None:
    shown = _dry_run(make_app(), "optimize-images")
    statuses = {action["id"]: action["status"] for action in shown["actions"]}
    assert statuses["convert-modern-formats"] == "skipped", shown["actions"]
    images = next(action for action in shown["actions"] if action["id"] == "convert-modern-formats")
    assert images["error"] == f"skipped: {NEEDS_SITE_ROOT}"
    assert "failed" not in statuses.values(), statuses
    assert shown["state"] == "succeeded", shown
    assert f"skipped ({NEEDS_SITE_ROOT}): convert-modern-formats" in shown["message"], shown["message"]
    assert "failed" not in shown["message"]


def test_an_execute_without_a_site_root_lists_the_skipped_action_as_pending_with_the_reason(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(playbooks={"execute": ["optimize-images"]}, auth={"tokens": [{"name": "t", "token": TOKEN}]})
    client = app.test_client()
    answer = post(client, "/api/perf-fix", {"playbookId": "optimize-images", "dryRun": False,
                                                "autoApprove": True}, headers=BEARER)
    assert answer.status_code in (200, 202), answer.json
    run_id = answer.json.get("id") or answer.json.get("runId")
    wait_run(runner_of(app), run_id)
    shown = get(client, f"/api/perf-fix/runs/{run_id}").json
    assert shown["state"] == "succeeded", shown
    reasons = {item["id"]: item["reason"] for item in shown["pendingManualActions"]}
    assert reasons["convert-modern-formats"] == f"skipped: {NEEDS_SITE_ROOT}"
