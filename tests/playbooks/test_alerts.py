"""The webhook's decisions: which mode an alert runs in, and the cooldown between runs for one alert."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from prometheus_client import CollectorRegistry

from perfbudget.metrics import scrape_registry

from .conftest import BEARER, EchoKind, alert, payload, post


def test_an_alert_executes_only_with_execute_on_alert_and_the_allowlist(
    pb_app: Callable[..., Flask], echo: EchoKind
) -> None:
    app = pb_app(playbooks={"execute": ["test-images"], "execute_on_alert": True})
    runs = post(app.test_client(), "/api/alertmanager", payload(), headers=BEARER).json["runs"]
    modes = {r["playbookId"]: r["mode"] for r in runs}
    assert modes == {"test-images": "execute", "optimize-images": "dry-run", "render-blocking-resources": "dry-run"}



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
