"""The structured event log of a real `perfbudget serve` with two workers writing one file: beacons become
metric_collected lines once a minute (one line per minute, route and vital, not one per worker), a
rejected beacon a beacon_rejected line, a real Alertmanager's firing and resolved alert alert_triggered and
alert_resolved lines tied by fingerprint to the playbook_previewed line of the run it started, a dry run by
hand, a reload and a refused token their lines; after an external `mv` of the file (logrotate's way) both
workers write to the new one; every line of both files is one JSON object and no secret is in any."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from .stack import Server, alertmanager, beacon, dry_run, exporter, http, wait_for, webhook_alertmanager_config, workers

pytestmark = pytest.mark.integration
TOKEN = "integration-eventlog-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRONG = "refused-token-SECRET-0123456789abcdef"
HOOK_SECRET = "ci-hook-secret-7d3b91e0"
LABELS = {"alertname": "WebVitalsBudgetExceeded", "metric": "LCP", "route": "/", "device": "phone",
          "budget": "lcp", "severity": "warning"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, Path]]:
    tmp = tmp_path_factory.mktemp("eventlog")
    playbooks = tmp / "playbooks"
    playbooks.mkdir()
    # A playbook whose webhook URL holds a secret: its dry run previews the call, the log never shows it.
    (playbooks / "notify.yaml").write_text(yaml.safe_dump({
        "id": "notify-ci", "name": "Start the image job", "metric": "LCP", "category": "images",
        "impact": "low", "effort": "low", "description": "Tell CI to rebuild the images.",
        "expectedImprovement": "none by itself", "match": ['metric="LCP"'],
        "actions": [{"id": "hook", "description": "Start the CI job", "kind": "webhook", "automated": True,
                     "risk": "safe",
                     "params": {"url": f"https://ci.example/hooks/{HOOK_SECRET}?token={HOOK_SECRET}"}}],
    }))
    events = tmp / "logs" / "events.jsonl"
    config = {"auth": {"tokens": [{"name": "alertmanager", "token": TOKEN}]},
              "playbooks": {"directory": str(playbooks)},
              "logging": {"events_file": str(events), "rejected_per_minute": 5}}
    with exporter(tmp / "exporter", config=config, workers=2) as exp:
        am_config = webhook_alertmanager_config(exp.url, TOKEN, repeat_interval="1h")
        am_file = tmp / "alertmanager.yml"
        am_file.write_text(yaml.safe_dump(am_config))
        with alertmanager(tmp / "am", am_file) as am:
            yield exp, am, events


def _lines(path: Path) -> list[dict[str, Any]]:
    """Every line, each parsed alone: two workers' writes interleaved inside a line would fail here."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _of_type(path: Path, event_type: str) -> list[dict[str, Any]]:
    return [line for line in _lines(path) if line["type"] == event_type]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_beacons_are_logged_once_a_minute_per_route_and_vital(stack: tuple[Server, Server, Path]) -> None:
    exp, _, events = stack
    for i in range(20):
        page = "http://shop.test/" if i % 2 else "http://shop.test/cart"
        reports = [beacon("LCP", 1200 + 100 * i, f"v5-lcp-{i}", page), beacon("CLS", 0.05, f"v5-cls-{i}", page)]
        status, body = http("POST", f"{exp.url}/api/web-vitals", reports)
        assert status == 200 and body["received"] == 2, body

    def counted() -> dict[tuple[str, str], int] | None:
        totals: dict[tuple[str, str], int] = {}
        for line in _of_type(events, "metric_collected"):
            totals[line["route"], line["vital"]] = totals.get((line["route"], line["vital"]), 0) + line["count"]
        return totals if sum(totals.values()) >= 40 else None

    # The snapshot writer stores a frame a minute: the lines come with the next one.
    totals = wait_for(counted, 150, interval=1, what="metric_collected lines for 40 reports")
    assert totals == {("/", "LCP"): 10, ("/", "CLS"): 10, ("/cart", "LCP"): 10, ("/cart", "CLS"): 10}
    collected = _of_type(events, "metric_collected")
    keys = [(line["epoch"], line["minute"], line["route"], line["vital"]) for line in collected if not line["final"]]
    assert len(keys) == len(set(keys)), "a minute of a route and vital was logged by more than one worker"
    lcp = next(line for line in collected if line["vital"] == "LCP")
    assert lcp["unit"] == "ms" and 1200 <= lcp["p75"] <= 3300 and lcp["good_share"] is not None


def test_a_rejected_beacon_is_logged_with_its_reason(stack: tuple[Server, Server, Path]) -> None:
    exp, _, events = stack
    status, body = http("POST", f"{exp.url}/api/web-vitals", b"{not json")
    assert status == 400, body
    status, body = http("POST", f"{exp.url}/api/web-vitals", [beacon("FID", 12, "v5-fid-1")])
    assert status == 400, body
    wait_for(lambda: {line["reason"] for line in _of_type(events, "beacon_rejected")} >= {"fid_retired"}, 10,
             what="beacon_rejected lines")
    assert all(line["suppressed"] >= 0 and line["pid"] > 0 for line in _of_type(events, "beacon_rejected"))


def test_an_alert_firing_and_resolving_ties_to_the_run_it_started(stack: tuple[Server, Server, Path]) -> None:
    _, am, events = stack
    alert = {"labels": LABELS, "annotations": {"summary": "LCP p75 over budget on /",
                                               "runbook_url": f"https://wiki.example/{HOOK_SECRET}"},
             "startsAt": _now(), "generatorURL": f"http://prometheus.test/graph?secret={HOOK_SECRET}"}
    assert http("POST", f"{am.url}/api/v2/alerts", [alert])[0] == 200
    [triggered] = wait_for(lambda: _of_type(events, "alert_triggered"), 60, what="alert_triggered")
    assert triggered["labels"] == LABELS and triggered["alertname"] == LABELS["alertname"]
    assert triggered["fingerprint"] and triggered["starts_at"][:19] == alert["startsAt"][:19]
    assert "notify-ci" in triggered["playbooks"] and "optimize-images" in triggered["playbooks"]

    def previewed() -> list[dict[str, Any]] | None:
        mine = [line for line in _of_type(events, "playbook_previewed") if line["run_id"] in triggered["run_ids"]]
        return mine if len(mine) == len(triggered["run_ids"]) else None

    previews = wait_for(previewed, 60, what="a playbook_previewed line per run the alert started")
    assert {line["fingerprint"] for line in previews} == {triggered["fingerprint"]}
    assert {line["playbook"] for line in previews} == set(triggered["playbooks"])
    assert all(line["trigger"] == "alert" and line["mode"] == "dry-run" for line in previews)

    assert http("POST", f"{am.url}/api/v2/alerts", [{**alert, "endsAt": _now()}])[0] == 200
    [resolved] = wait_for(lambda: _of_type(events, "alert_resolved"), 60, what="alert_resolved")
    assert resolved["fingerprint"] == triggered["fingerprint"] and resolved["starts_at"] == triggered["starts_at"]
    assert resolved["ends_at"]


def test_a_dry_run_by_hand_is_logged_with_its_run_id(stack: tuple[Server, Server, Path]) -> None:
    exp, _, events = stack
    run = dry_run(exp, "optimize-images")
    line = wait_for(lambda: next((x for x in _of_type(events, "playbook_previewed") if x["run_id"] == run["id"]),
                                 None), 30, what="the dry run's line")
    assert line["playbook"] == "optimize-images" and line["fingerprint"] is None and line["state"] == run["state"]


def test_a_refused_token_is_logged_without_its_value(stack: tuple[Server, Server, Path]) -> None:
    exp, _, events = stack
    assert http("POST", f"{exp.url}/-/reload", headers={"Authorization": f"Bearer {WRONG}"})[0] == 401
    line = wait_for(lambda: _of_type(events, "auth_refused"), 10, what="auth_refused")[0]
    assert line["endpoint"] == "/-/reload" and line["reason"] == "wrong" and "client" not in line


def _refusals(exp: Server, count: int) -> None:
    """`count` refused requests from 8 threads at once, on new connections (spread over the workers)."""
    def send() -> None:
        for _ in range(count // 8):
            http("POST", f"{exp.url}/-/reload", headers={"Authorization": f"Bearer {WRONG}"})

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_after_an_external_move_every_worker_writes_to_the_new_file(stack: tuple[Server, Server, Path]) -> None:
    exp, _, events = stack
    rotated = events.with_name("events.jsonl.1")
    os.rename(events, rotated)  # logrotate without copytruncate; no signal, no restart
    live = workers(exp)
    assert len(live) == 2

    def both_write() -> bool:
        _refusals(exp, 80)
        return {line["pid"] for line in _of_type(events, "auth_refused")} >= live

    wait_for(both_write, 60, interval=0.1, what="both workers writing to the new file")
    every = [*_lines(rotated), *_lines(events)]  # each line parsed alone: no two workers' writes mixed
    assert {line["type"] for line in every} >= {
        "metric_collected", "beacon_rejected", "alert_triggered", "alert_resolved", "playbook_previewed",
        "auth_refused"}
    assert all(datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
               for line in every)
    text = rotated.read_text() + events.read_text()
    for secret in (TOKEN, WRONG, HOOK_SECRET, "Bearer", "runbook_url"):
        assert secret not in text, secret


def test_a_reload_is_logged_and_the_new_workers_append_to_the_same_file(stack: tuple[Server, Server, Path]) -> None:
    exp, _, events = stack
    before = set(workers(exp))
    status, body = http("POST", f"{exp.url}/-/reload", headers=AUTH)
    assert status == 200, body
    [line] = wait_for(lambda: _of_type(events, "config_reloaded"), 10, what="config_reloaded")
    assert line["ok"] is True and line["error_count"] == 0 and line["config_file"].endswith("perfbudget.yml")
    assert line["pid"] in before
    # granian respawns the workers one after the other (an old one that does not stop is killed after 30 s).

    def new_workers_write() -> bool:
        fresh = workers(exp) - before
        _refusals(exp, 40)
        return bool(fresh) and {x["pid"] for x in _of_type(events, "auth_refused")} >= fresh

    wait_for(new_workers_write, 150, interval=0.5, what="respawned workers writing to the same file")
    text = "".join(path.read_text() for path in events.parent.glob("events.jsonl*"))
    for secret in (TOKEN, WRONG, HOOK_SECRET, "Bearer", "runbook_url"):
        assert secret not in text, secret
