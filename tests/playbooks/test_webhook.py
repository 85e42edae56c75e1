"""POST /api/alertmanager: auth, payload validation, runs per firing alert, idempotency, resolution, 5xx."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from perfbudget.playbooks.runner import Runner

from .conftest import BASIC, BEARER, TOKEN, EchoKind, alert, get, payload, runner_of, wait_run

URL = "/api/alertmanager"


def post(client: FlaskClient, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.post(URL, json=body, headers=BEARER if headers is None else headers)


def test_without_credentials_the_webhook_answers_401(client: FlaskClient) -> None:
    answer = post(client, payload(), headers={})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="perfbudget"'


@pytest.mark.parametrize("header", [
    f"Bearer {TOKEN}x",
    "Bearer ",
    "Basic " + base64.b64encode(b"alertmanager:wrong-password-000000").decode(),
    "Basic not-base64!",
    f"Token {TOKEN}",
])
def test_wrong_credentials_are_refused(client: FlaskClient, header: str) -> None:
    assert post(client, payload(), headers={"Authorization": header}).status_code == 401


@pytest.mark.parametrize("headers", [BEARER, BASIC], ids=["bearer", "basic"])
def test_bearer_and_basic_credentials_are_accepted(client: FlaskClient, headers: dict[str, str]) -> None:
    assert post(client, payload(), headers=headers).status_code == 200


def test_a_token_without_the_webhook_scope_is_refused(pb_app: Callable[..., Flask]) -> None:
    app = pb_app(auth={"tokens": [{"name": "ops", "token": TOKEN, "scopes": ["reload"]}]})
    assert post(app.test_client(), payload()).status_code == 401


def _set(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


_DELETE = object()

MALFORMED: list[tuple[tuple[Any, ...], Any, list[str]]] = [
    (("version",), "3", ["payload: version: '3': only Alertmanager webhook payload version 4 is supported"]),
    (("version",), 4, ["payload: version: 4: must be a string"]),
    (("version",), _DELETE, ["payload: version: required key is missing"]),
    (("alerts",), _DELETE, ["payload: alerts: required key is missing"]),
    (("alerts",), {}, ["payload: alerts: {}: must be a list"]),
    (("alerts", 0, "status"), "burning", ["payload: alerts[0].status: 'burning': is not one of firing, resolved"]),
    (("alerts", 0, "labels"), _DELETE, ["payload: alerts[0].labels: required key is missing"]),
    (("alerts", 0, "labels", "route"), 5, ["payload: alerts[0].labels.route: 5: must be a string"]),
    (("alerts", 0, "startsAt"), "yesterday",
     ["payload: alerts[0].startsAt: 'yesterday': is not an RFC 3339 time like 2025-01-02T03:04:05.123Z"]),
    (("alerts", 0, "startsAt"), _DELETE, ["payload: alerts[0].startsAt: required key is missing"]),
    (("truncatedAlerts",), -1, ["payload: truncatedAlerts: -1: must be >= 0"]),
]


@pytest.mark.parametrize(("path", "value", "errors"), MALFORMED,
                         ids=[".".join(map(str, c[0])) + "=" + repr(c[1])[:12] for c in MALFORMED])
def test_a_malformed_payload_is_a_400_with_exact_errors(
    client: FlaskClient, path: tuple[Any, ...], value: Any, errors: list[str]
) -> None:
    answer = post(client, _set(payload(), path, value))
    assert answer.status_code == 400
    assert answer.json == {"error": "malformed Alertmanager webhook payload", "errors": errors}


@pytest.mark.parametrize(("body", "error"), [
    (b"{not json", "payload: not JSON: "),
    (b"[]", "payload: (top level): must be a JSON object, not list"),
])
def test_a_body_that_is_not_a_json_object_is_a_400(client: FlaskClient, body: bytes, error: str) -> None:
    answer: Any = client.post(URL, data=body, headers={**BEARER, "Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json["errors"][0].startswith(error)


def test_unknown_fields_are_ignored(client: FlaskClient) -> None:
    body = payload({**alert(), "newField": {"x": 1}}, groupLabelsV2=[1, 2], future=True)
    assert post(client, body).status_code == 200


def test_a_firing_alert_starts_a_dry_run_of_each_matching_playbook(
    app: Flask, client: FlaskClient, echo: EchoKind, registry: CollectorRegistry
) -> None:
    answer = post(client, payload())
    assert answer.status_code == 200
    body = answer.json
    assert body["alerts"] == 1 and body["unmatched"] == 0
    runs = {r["playbookId"]: r for r in body["runs"]}
    # Of the bundled LCP playbooks an LCP alert without a `cause` starts optimize-images alone (LCP's default).
    assert set(runs) == {"optimize-images", "test-images"}
    assert {r["mode"] for r in runs.values()} == {"dry-run"}
    assert not any(r["duplicate"] for r in runs.values())
    run = wait_run(runner_of(app), runs["test-images"]["id"])
    assert run.state == "succeeded"
    assert [c[0] for c in echo.calls if c[1] == run.id] == ["preview", "preview", "preview"]
    shown = get(client, f"/api/perf-fix/runs/{run.id}").json
    assert shown["mode"] == "dry-run"
    assert shown["message"] == "dry run: 3 of 3 actions previewed; nothing was changed"
    assert shown["actions"][0]["preview"]["summary"] == "would safe step"
    assert shown["actions"][0]["preview"]["bytesSaved"] == 750
    assert shown["bytesSaved"] == 2250
    assert shown["executedActions"] == [] and shown["pendingManualActions"] == []
    assert shown["expectedImprovement"] == "LCP -20%"
    assert shown["verificationUrl"] == f"/api/perf-fix/runs/{run.id}"
    assert shown["trigger"]["labels"]["route"] == "/cart"
    assert shown["alert"] == {"fingerprint": "fp1", "startsAt": "2025-05-01T10:00:00.000Z", "status": "firing",
                              "resolvedAt": None}
    assert [e["event"] for e in shown["events"]] == ["queued", "running", "succeeded"]
    metrics = registry
    assert metrics.get_sample_value("perfbudget_alerts_received_total", {"status": "firing"}) == 1
    assert metrics.get_sample_value("perfbudget_playbook_runs_total",
                                    {"playbook": "test-images", "mode": "dry-run", "outcome": "succeeded"}) == 1


def test_a_duplicate_delivery_returns_the_existing_run_and_never_runs_twice(
    app: Flask, client: FlaskClient, echo: EchoKind
) -> None:
    first = post(client, payload(alert(metric="CLS", alertname="WebVitalsBudgetExceeded")))
    # CLS matches no test playbook here; use the LCP one for the check below.
    assert first.status_code == 200
    one = post(client, payload()).json["runs"]
    mine = next(r for r in one if r["playbookId"] == "test-images")
    wait_run(runner_of(app), mine["id"])
    for _ in range(3):  # Alertmanager retries, repeat intervals, an HA peer
        again = post(client, payload()).json["runs"]
        same = next(r for r in again if r["playbookId"] == "test-images")
        assert same["id"] == mine["id"] and same["duplicate"] is True and same["state"] == "succeeded"
    run = wait_run(runner_of(app), mine["id"])
    assert run.deliveries == 4
    assert len([c for c in echo.calls if c[1] == mine["id"]]) == 3  # three previews, once
    assert len(runner_of(app).store.recent(playbook="test-images")) == 1


def test_a_new_startsat_is_a_new_alert_and_a_new_run(client: FlaskClient) -> None:
    one = post(client, payload()).json["runs"]
    two = post(client, payload(alert(starts_at="2025-05-01T12:00:00Z"))).json["runs"]
    assert {r["id"] for r in one}.isdisjoint({r["id"] for r in two})


def test_a_resolved_alert_starts_nothing_and_marks_its_runs_resolved(app: Flask, client: FlaskClient) -> None:
    runs = post(client, payload()).json["runs"]
    answer = post(client, payload(alert(status="resolved"), status="resolved"))
    assert answer.status_code == 200
    assert answer.json["runs"] == [] and answer.json["resolvedRuns"] == 2
    for item in runs:
        shown = get(client, f"/api/perf-fix/runs/{item['id']}").json
        assert shown["alert"]["status"] == "resolved" and shown["alert"]["resolvedAt"]
        assert "alert-resolved" in [e["event"] for e in shown["events"]]
    # A late retry of the firing notification neither starts nor duplicates anything.
    late = post(client, payload()).json
    assert {r["id"] for r in late["runs"]} == {r["id"] for r in runs}
    assert all(r["duplicate"] for r in late["runs"])


def test_a_firing_copy_that_arrives_after_the_resolution_starts_no_run(client: FlaskClient) -> None:
    assert post(client, payload(alert(status="resolved"))).json["resolvedRuns"] == 0
    late = post(client, payload()).json
    assert late["runs"] == [] and late["alreadyResolved"] == 1


def test_each_alert_uses_its_own_status_not_the_groups(client: FlaskClient) -> None:
    # max_alerts truncation can leave a group status of "resolved" over alerts that still fire.
    body = payload(alert(fingerprint="a"), alert(status="resolved", fingerprint="b"), status="resolved",
                   truncatedAlerts=3)
    answer = post(client, body).json
    assert {r["fingerprint"] for r in answer["runs"]} == {"a"}


def test_an_alert_no_playbook_matches_is_counted_and_acknowledged(client: FlaskClient) -> None:
    answer = post(client, payload(alert(metric="certificate", alertname="CertificateExpiresSoon")))
    assert answer.status_code == 200 and answer.json["runs"] == [] and answer.json["unmatched"] == 1


def test_a_locked_audit_log_is_a_503_that_alertmanager_retries(app: Flask, client: FlaskClient) -> None:
    runner = runner_of(app)
    runner.close()
    runner.store._timeout = 0.05
    blocker = sqlite3.connect(runner.store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        answer = post(client, payload())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.json["error"].startswith("audit log unavailable, retry later: database is locked")
    # The retry succeeds and nothing of the failed attempt was kept.
    retry = post(client, payload())
    assert retry.status_code == 200 and not any(r["duplicate"] for r in retry.json["runs"])


def test_a_full_queue_is_a_503_and_records_nothing(pb_app: Callable[..., Flask]) -> None:
    app = pb_app(playbooks={"queue_size": 3})
    runner: Runner = runner_of(app)
    runner.close()  # nothing leaves the queue
    client = app.test_client()
    assert post(client, payload()).status_code == 200  # three runs queued: the queue is full
    answer = post(client, payload(alert(fingerprint="other")))
    assert answer.status_code == 503
    assert answer.json["error"] == ("playbook queue is full, retry later: 3 runs are queued "
                                    "(playbooks.queue_size is 3)")
    assert runner.store.recent(fingerprint="other") == []
    # A duplicate of what is already queued is still answered from the log.
    assert post(client, payload()).status_code == 200
