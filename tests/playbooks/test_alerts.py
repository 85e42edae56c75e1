"""The webhook's decisions (`playbooks/alerts.py`): the payload, which playbooks and mode an alert starts,
resolution, the cooldown between runs for one alert. HTTP, auth and status codes are in test_webhook."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry, Counter

from perfbudget.config import Config
from perfbudget.playbooks import build_runner, load_playbooks
from perfbudget.playbooks.alerts import PayloadError, mode_for_alert, parse_payload, receive
from perfbudget.playbooks.runner import Runner

from .conftest import BEARER, EchoKind, alert, payload, post, runner_of


@pytest.fixture
def runner(make_config: Callable[..., Config], echo: EchoKind, book_dir: Path) -> Runner:
    """A runner whose workers never start: what a delivery records stays as it was recorded."""
    config = make_config(playbooks={"directory": str(book_dir), "cooldown_seconds": 0})
    return build_runner(config, load_playbooks(config))


def _parse(body: dict[str, Any]) -> Any:
    return parse_payload(json.dumps(body).encode())


def test_an_alert_runs_a_playbook_in_execute_mode_only_with_execute_on_alert_and_the_allowlist(
    make_config: Callable[..., Config],
) -> None:
    assert mode_for_alert(make_config(playbooks={"execute_on_alert": True}), "test-images") == "dry-run"
    assert mode_for_alert(make_config(), "test-images") == "dry-run"
    both = make_config(playbooks={"execute_on_alert": True, "execute": ["optimize-images"]})
    assert mode_for_alert(both, "optimize-images") == "execute"


def test_a_delivery_queues_one_run_per_matching_playbook_and_counts_what_it_started_nothing_for(
    runner: Runner,
) -> None:
    registry = CollectorRegistry()
    received = Counter("received", "alerts", ["status"], registry=registry)
    body = payload(alert(), alert(fingerprint="other", metric="certificate", alertname="CertificateExpiresSoon"),
                   alert(status="resolved", fingerprint="gone"))
    delivery = receive(runner, _parse(body), "10.0.0.7", received)
    assert delivery.alerts == 3 and delivery.unmatched == 1 and delivery.resolved_runs == 0
    # An LCP alert without a `cause` starts optimize-images of the bundled LCP playbooks (LCP's default).
    assert {item.run.playbook for item in delivery.submitted} == {"optimize-images", "test-images"}
    assert {(item.run.state, item.run.mode, item.duplicate) for item in delivery.submitted} == {
        ("queued", "dry-run", False)}
    trigger = delivery.submitted[0].run.trigger
    assert trigger["type"] == "alert" and trigger["client"] == "10.0.0.7" and trigger["fingerprint"] == "fp1"
    assert registry.get_sample_value("received_total", {"status": "firing"}) == 2
    assert registry.get_sample_value("received_total", {"status": "resolved"}) == 1
    again = receive(runner, _parse(body), "10.0.0.7")
    assert [item.run.id for item in again.submitted] == [item.run.id for item in delivery.submitted]
    assert all(item.duplicate for item in again.submitted)


def test_a_resolved_alert_marks_the_runs_it_started_resolved(runner: Runner) -> None:
    started = receive(runner, _parse(payload()), None)
    ended = receive(runner, _parse(payload(alert(status="resolved"))), None)
    assert ended.submitted == [] and ended.resolved_runs == len(started.submitted) == 2


def test_a_malformed_payload_lists_every_problem() -> None:
    with pytest.raises(PayloadError) as caught:
        _parse(payload(version="3", truncatedAlerts=-1))
    assert caught.value.errors == ["payload: version: '3': only Alertmanager webhook payload version 4 is supported",
                                   "payload: truncatedAlerts: -1: must be >= 0"]


def test_an_alert_executes_only_with_execute_on_alert_and_the_allowlist(
    pb_app: Callable[..., Flask], echo: EchoKind
) -> None:
    app = pb_app(playbooks={"execute": ["test-images"], "execute_on_alert": True, "execute_min_clients": 0})
    runs = post(app.test_client(), "/api/alertmanager", payload(), headers=BEARER).json["runs"]
    modes = {r["playbookId"]: r["mode"] for r in runs}
    assert modes == {"test-images": "execute", "optimize-images": "dry-run"}


def _beacons_from(client: FlaskClient, address: str, count: int = 1) -> None:
    for n in range(count):
        body = [{"name": "LCP", "value": 9000, "delta": 9000, "id": f"v5-{address}-{n}", "rating": "poor",
                 "navigationType": "navigate", "pageUrl": "https://shop.test/cart"}]
        assert client.post("/api/web-vitals", json=body, environ_base={"REMOTE_ADDR": address}).status_code == 200


def test_an_alerts_execute_needs_execute_min_clients_distinct_clients_on_its_route(
    pb_app: Callable[..., Flask], echo: EchoKind
) -> None:
    app = pb_app(playbooks={"execute": ["test-images"], "execute_on_alert": True, "execute_min_clients": 3})
    client = app.test_client()
    _beacons_from(client, "203.0.113.9", 30)  # thirty forged beacons from one machine
    runs = post(client, "/api/alertmanager", payload(), headers=BEARER).json["runs"]
    forged = next(r for r in runs if r["playbookId"] == "test-images")
    assert forged["mode"] == "dry-run"
    run = runner_of(app).store.get(forged["id"])
    assert run is not None and run.trigger["executeRefused"] == (
        "route '/cart' had 1 distinct client over the last 1h, under playbooks.execute_min_clients (3): dry run "
        "instead of execute")
    # Five more clients, not two: the count is a HyperLogLog estimate, and three clients share a register about
    # once in 85 runs (an estimate of 2), so the test would fail that often at exactly the minimum.
    for n in range(1, 6):
        _beacons_from(client, f"198.51.100.{n}")
    runs = post(client, "/api/alertmanager", payload(alert(starts_at="2025-05-01T10:05:00Z")), headers=BEARER).json
    real = next(r for r in runs["runs"] if r["playbookId"] == "test-images")
    assert real["mode"] == "execute"
    assert "executeRefused" not in runner_of(app).store.get(real["id"]).trigger  # type: ignore[union-attr]
    # An alert without a route is not made of beacons: the guard does not apply.
    runs = post(client, "/api/alertmanager", payload(alert(fingerprint="svc", route="")), headers=BEARER).json
    assert next(r for r in runs["runs"] if r["playbookId"] == "test-images")["mode"] == "execute"



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
    assert registry.get_sample_value(
        "perfbudget_playbook_runs_total", {"playbook": "test-images", "mode": "dry-run", "outcome": "skipped"}) == 1
