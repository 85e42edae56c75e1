"""The structured event log: python-json-logger's lines on `perfbudget.events`, each event's fields and the
ids that tie them together, levels and `off`, the rejection sampler, one set of metric_collected lines per
minute however many workers snapshot it, and no secret in any line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from prometheus_client import CollectorRegistry

from perfbudget import eventlog
from perfbudget.app import close_app, create_app
from perfbudget.config import load_config
from perfbudget.config.logging import LoggingConfig
from perfbudget.metric_minutes import LoggedSnapshotStore
from perfbudget.store import Labels
from perfbudget.summary import SummaryService
from perfbudget.vitals import VITALS

TOKEN = "eventlog-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRONG = "wrong-token-SECRET-9876543210"
HOOK_SECRET = "hook-secret-4f1c2e9a"
LABELS = {"alertname": "WebVitalsBudgetExceeded", "metric": "LCP", "route": "/", "device": "phone",
          "budget": "lcp", "severity": "warning"}


def lines(path: Path) -> list[dict[str, Any]]:
    """Every line of the event log, each parsed as JSON (a line that is not JSON fails the test)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def of_type(path: Path, event_type: str) -> list[dict[str, Any]]:
    return [line for line in lines(path) if line["type"] == event_type]


def wait_for_lines(path: Path, event_type: str, count: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = of_type(path, event_type)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} {event_type} lines in {path}: {lines(path)}")


@pytest.fixture
def events(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "events.jsonl"


@pytest.fixture
def event_app(make_app: Callable[..., Flask], events: Path) -> Callable[..., Flask]:
    def make(**sections: Any) -> Flask:
        logging_section = {"events_file": str(events), **sections.pop("logging", {})}
        return make_app(logging=logging_section, auth={"tokens": [{"name": "ops", "token": TOKEN}]}, **sections)

    return make


@pytest.fixture(autouse=True)
def _unconfigured() -> Any:
    yield
    eventlog.reset()  # no later test writes to this test's file


def test_an_app_writes_events_until_it_is_closed(make_app: Callable[..., Flask], events: Path) -> None:
    app = make_app(logging={"events_file": str(events)})
    eventlog.beacon_rejected("malformed", 0)
    close_app(app)
    eventlog.beacon_rejected("malformed", 0)  # the command line after a closed app: nothing
    assert len(lines(events)) == 1
    assert not eventlog.enabled(logging.CRITICAL)


# --- the formatter and the settings ------------------------------------------------------------------


def test_a_line_is_one_json_object_with_time_type_level_pid_and_the_fields(events: Path) -> None:
    eventlog.configure(LoggingConfig(events_file=events))
    eventlog.beacon_rejected("fid_retired", 3)
    [line] = lines(events)
    assert list(line)[:4] == ["time", "type", "level", "pid"]
    assert line["type"] == "beacon_rejected" and line["level"] == "INFO"
    assert line["reason"] == "fid_retired" and line["suppressed"] == 3
    when = datetime.fromisoformat(line["time"])
    assert when.utcoffset() is not None and when.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert abs((datetime.now(UTC) - when).total_seconds()) < 60


def test_the_formatter_is_python_json_loggers() -> None:
    from pythonjsonlogger.json import JsonFormatter

    assert isinstance(eventlog.formatter(), JsonFormatter)


def test_events_never_reach_the_human_logs(events: Path, caplog: pytest.LogCaptureFixture) -> None:
    eventlog.configure(LoggingConfig(events_file=events))
    with caplog.at_level(logging.DEBUG):
        eventlog.beacon_rejected("malformed", 0)
    assert caplog.records == []
    assert len(lines(events)) == 1


def test_off_writes_nothing_and_a_level_drops_what_is_below_it(events: Path) -> None:
    eventlog.configure(LoggingConfig(events_file=events, events_level="off"))
    eventlog.auth_refused(endpoint="/-/reload", method="POST", reason="wrong", client=None)
    assert lines(events) == []
    eventlog.configure(LoggingConfig(events_file=events, events_level="warning"))
    eventlog.beacon_rejected("malformed", 0)  # info
    eventlog.auth_refused(endpoint="/-/reload", method="POST", reason="wrong", client=None)  # warning
    assert [line["type"] for line in lines(events)] == ["auth_refused"]


def test_stdout_by_default_whatever_stdout_is_now(capsys: pytest.CaptureFixture[str]) -> None:
    eventlog.configure(LoggingConfig())
    eventlog.config_reloaded(None, [])
    line = json.loads(capsys.readouterr().out)
    assert line["type"] == "config_reloaded" and line["ok"] is True


def test_an_unknown_event_type_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="'beacon_lost' is not an event type; known: metric_collected, "):
        eventlog.emit("beacon_lost", {})


def test_the_events_file_is_appended_to_and_reopened_after_an_external_move(events: Path) -> None:
    events.parent.mkdir(parents=True)
    events.write_text('{"type": "earlier"}\n')
    eventlog.configure(LoggingConfig(events_file=events))
    eventlog.beacon_rejected("malformed", 0)
    events.rename(events.with_suffix(".1"))  # logrotate's default: move, then the writer makes a new file
    eventlog.beacon_rejected("body_too_large", 0)
    rotated = [json.loads(line) for line in events.with_suffix(".1").read_text().splitlines()]
    assert [line["type"] for line in rotated] == ["earlier", "beacon_rejected"]
    assert [line["reason"] for line in lines(events)] == ["body_too_large"]


# --- the sampler on the beacon path -----------------------------------------------------------------


def test_rejections_are_sampled_per_reason_and_minute_and_the_rest_counted(events: Path) -> None:
    eventlog.configure(LoggingConfig(events_file=events))
    now = [120.0]
    sampler = eventlog.RejectionSampler(2, clock=lambda: now[0])
    for _ in range(5):
        sampler("malformed")
    sampler("origin_not_allowed")
    now[0] = 180.0  # the next minute
    sampler("malformed")
    written = [(line["reason"], line["suppressed"]) for line in lines(events)]
    assert written == [("malformed", 0), ("malformed", 0), ("origin_not_allowed", 0), ("malformed", 3)]


def test_a_rejected_report_counts_and_logs_its_reason(event_app: Callable[..., Flask], events: Path,
                                                      registry: CollectorRegistry) -> None:
    client = event_app().test_client()
    answer = client.post("/api/web-vitals", json=[{"name": "FID", "value": 12, "id": "v1-fid", "delta": 12}])
    assert answer.status_code == 400
    [line] = of_type(events, "beacon_rejected")
    assert line["reason"] == "fid_retired" and line["suppressed"] == 0
    assert registry.get_sample_value("perfbudget_reports_rejected_total", {"reason": "fid_retired"}) == 1


# --- auth_refused -----------------------------------------------------------------------------------


def test_a_refused_token_is_logged_by_reason_never_by_value(event_app: Callable[..., Flask], events: Path) -> None:
    client = event_app().test_client()
    assert client.post("/-/reload", headers={"Authorization": f"Bearer {WRONG}"}).status_code == 401
    assert client.post("/-/reload").status_code == 401
    refused = of_type(events, "auth_refused")
    assert [(line["endpoint"], line["method"], line["reason"]) for line in refused] == [
        ("/-/reload", "POST", "wrong"), ("/-/reload", "POST", "missing")]
    assert all("client" not in line for line in refused)  # addresses only when the config says so
    text = events.read_text()
    assert WRONG not in text and TOKEN not in text and "Bearer" not in text


def test_client_addresses_only_when_the_config_allows_them(event_app: Callable[..., Flask], events: Path) -> None:
    client = event_app(logging={"client_addresses": True}).test_client()
    client.post("/-/reload")
    [line] = of_type(events, "auth_refused")
    assert line["client"] == "127.0.0.1"


# --- config_reloaded --------------------------------------------------------------------------------


def test_a_reload_logs_whether_it_applied_and_why_not(tmp_path: Path, registry: CollectorRegistry,
                                                      events: Path) -> None:
    config_file = tmp_path / "perfbudget.yml"
    config = {"data_dir": str(tmp_path / "data"), "logging": {"events_file": str(events)},
              "auth": {"tokens": [{"name": "ops", "token": TOKEN}]}}
    config_file.write_text(yaml.safe_dump(config))
    app = create_app(load_config(config_file, env={}), registry=registry, config_file=config_file)
    try:
        client = app.test_client()
        assert client.post("/-/reload", headers=AUTH).status_code == 200
        config_file.write_text(yaml.safe_dump({**config, "server": {"workers": 0}}))
        assert client.post("/-/reload", headers=AUTH).status_code == 400
    finally:
        close_app(app)
    applied, refused = of_type(events, "config_reloaded")
    assert applied["ok"] is True and applied["errors"] == [] and applied["config_file"] == str(config_file)
    assert applied["level"] == "INFO"
    assert refused["ok"] is False and refused["level"] == "ERROR" and refused["error_count"] == 1
    assert "server.workers" in refused["errors"][0]
    assert TOKEN not in events.read_text()


# --- alerts and playbook runs -----------------------------------------------------------------------


def _delivery(status: str, fingerprint: str, ends_at: str = "") -> dict[str, Any]:
    return {
        "version": "4", "receiver": "perfbudget", "status": status, "groupKey": "{}:{}",
        "externalURL": f"http://am.example:9093/?token={HOOK_SECRET}",
        "alerts": [{
            "status": status, "labels": LABELS, "fingerprint": fingerprint,
            "annotations": {"summary": "LCP over budget", "runbook_url": f"https://hooks.example/{HOOK_SECRET}"},
            "startsAt": "2026-05-01T10:00:00.000Z", "endsAt": ends_at,
            "generatorURL": f"http://prometheus.example/graph?secret={HOOK_SECRET}",
        }],
    }


def test_an_alert_ties_to_its_runs_from_trigger_to_preview_to_resolution(
        event_app: Callable[..., Flask], events: Path, tmp_path: Path) -> None:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "notify.yaml").write_text(yaml.safe_dump({
        "id": "notify-ci", "name": "Tell CI", "metric": "LCP", "category": "images", "impact": "low",
        "effort": "low", "description": "Start the image job.", "expectedImprovement": "none",
        "match": ['metric="LCP"'],
        "actions": [{"id": "hook", "description": "Start the CI job", "kind": "webhook", "automated": True,
                     "risk": "safe",
                     "params": {"url": f"https://ci.example/hooks/{HOOK_SECRET}?token={HOOK_SECRET}"}}],
    }))
    client = event_app(playbooks={"directory": str(playbooks)}).test_client()
    answer = client.post("/api/alertmanager", json=_delivery("firing", "fp-lcp-1"), headers=AUTH)
    assert answer.status_code == 200, answer.json
    [triggered] = of_type(events, "alert_triggered")
    assert triggered["fingerprint"] == "fp-lcp-1" and triggered["starts_at"] == "2026-05-01T10:00:00.000Z"
    assert triggered["alertname"] == "WebVitalsBudgetExceeded" and triggered["labels"] == LABELS
    assert triggered["level"] == "WARNING" and triggered["repeated"] is False
    assert "notify-ci" in triggered["playbooks"] and len(triggered["run_ids"]) == len(triggered["playbooks"])

    previews = wait_for_lines(events, "playbook_previewed", len(triggered["run_ids"]))
    assert {line["run_id"] for line in previews} == set(triggered["run_ids"])
    notify = next(line for line in previews if line["playbook"] == "notify-ci")
    assert notify["fingerprint"] == "fp-lcp-1" and notify["starts_at"] == triggered["starts_at"]
    assert notify["mode"] == "dry-run" and notify["state"] == "succeeded" and notify["trigger"] == "alert"
    assert notify["executed_actions"] == 0 and isinstance(notify["duration_seconds"], float)

    again = client.post("/api/alertmanager", json=_delivery("firing", "fp-lcp-1"), headers=AUTH)
    assert again.status_code == 200
    repeated = of_type(events, "alert_triggered")[1]
    assert repeated["repeated"] is True and repeated["run_ids"] == triggered["run_ids"]

    done = client.post("/api/alertmanager", headers=AUTH,
                       json=_delivery("resolved", "fp-lcp-1", ends_at="2026-05-01T10:30:00.000Z"))
    assert done.status_code == 200
    [resolved] = of_type(events, "alert_resolved")
    assert resolved["fingerprint"] == "fp-lcp-1" and resolved["starts_at"] == triggered["starts_at"]
    assert resolved["ends_at"] == "2026-05-01T10:30:00.000Z" and resolved["level"] == "INFO"

    text = events.read_text()
    assert HOOK_SECRET not in text and TOKEN not in text
    assert "runbook_url" not in text and "generatorURL" not in text  # annotations and URLs never logged


def test_a_manual_dry_run_is_previewed_without_an_alert(event_app: Callable[..., Flask], events: Path) -> None:
    client = event_app().test_client()
    answer = client.post("/api/perf-fix", json={"playbookId": "optimize-images", "dryRun": True})
    assert answer.status_code == 202, answer.json
    [line] = wait_for_lines(events, "playbook_previewed")
    assert line["run_id"] == answer.json["id"] and line["playbook"] == "optimize-images"
    assert line["fingerprint"] is None and line["trigger"] != "alert"


# --- metric_collected -------------------------------------------------------------------------------


class _Slabs:
    """What the summary reads from the store's slabs: per vital, route -> counts per bucket then the sum."""

    def __init__(self, rows: Mapping[str, dict[str, list[float]]]) -> None:
        self.rows_by_vital = rows

    def rows(self, name: str, match: Mapping[str, str] | None = None) -> dict[Labels, list[float]]:
        return {}

    def sums(self, name: str, label: str) -> dict[str, list[float]]:
        vital = next(v.name for v in VITALS.values() if v.metric == name)
        return {route: list(row) for route, row in self.rows_by_vital.get(vital, {}).items()}


def test_metric_collected_is_written_once_a_minute_by_the_worker_that_stores_it(tmp_path: Path,
                                                                                events: Path) -> None:
    eventlog.configure(LoggingConfig(events_file=events))
    edges = {name: (1.0, 2.5, 4.0) if name == "LCP" else (0.1, 0.25) for name in VITALS}
    path, epoch, now = tmp_path / "summary.sqlite", "e1", [60.0]  # the run starts within its first minute
    slabs = _Slabs({"LCP": {"/": [2, 0, 0, 0, 3.0]}})  # 2 loads under 1 s; the sum last

    def worker() -> SummaryService:
        return SummaryService(slabs, edges, LoggedSnapshotStore(path, edges), epoch=epoch, started=70.0,
                              clock=lambda: now[0])

    first, second = worker(), worker()
    first.snapshot()
    now[0] = 61.0
    second.snapshot()  # the same minute: stored already, nothing written twice
    assert [(line["minute"], line["count"]) for line in of_type(events, "metric_collected")] == [
        ("1970-01-01T00:01:00Z", 2)]

    slabs.rows_by_vital = {"LCP": {"/": [2, 1, 3, 0, 20.0], "/cart": [0, 0, 0, 1, 5.0]}}
    now[0] = 121.0
    second.snapshot()  # the other worker stores the next minute: 4 more loads on "/" since the last
    first.snapshot()
    _, home, cart = of_type(events, "metric_collected")
    assert home["route"] == "/" and home["vital"] == "LCP" and home["epoch"] == epoch
    assert home["minute"] == "1970-01-01T00:02:00Z" and home["interval_seconds"] == 60 and home["final"] is False
    assert home["count"] == 4 and home["unit"] == "ms" and home["good_share"] == 0.25
    assert home["p75"] == 3500.0  # histogram_quantile's: rank 3 of 4, 2 of 3 into the (2.5 s, 4 s] bucket
    assert cart["route"] == "/cart" and cart["count"] == 1 and cart["good_share"] == 0.0 and cart["p75"] == 4000.0

    slabs.rows_by_vital = {"LCP": {"/": [2, 1, 3, 2, 30.0], "/cart": [0, 0, 0, 1, 5.0]}}
    now[0] = 150.0
    first.close()  # its last snapshot replaces the minute's frame: only the 2 loads since are logged
    second.close()  # nothing new since: no line
    *_, last = of_type(events, "metric_collected")
    assert len(of_type(events, "metric_collected")) == 4
    assert last["route"] == "/" and last["count"] == 2 and last["final"] is True and last["interval_seconds"] == 0
    assert sum(line["count"] for line in of_type(events, "metric_collected")) == 2 + 4 + 1 + 2  # the histograms'


def test_a_workers_last_snapshot_in_the_runs_first_minute_logs_only_what_came_after(tmp_path: Path,
                                                                                     events: Path) -> None:
    eventlog.configure(LoggingConfig(events_file=events))
    edges = {name: (1.0, 2.5, 4.0) if name == "LCP" else (0.1, 0.25) for name in VITALS}
    now = [66.0]
    slabs = _Slabs({"LCP": {"/": [2, 0, 0, 0, 3.0]}})
    summary = SummaryService(slabs, edges, LoggedSnapshotStore(tmp_path / "summary.sqlite", edges), epoch="e2",
                             started=65.0, clock=lambda: now[0])
    summary.snapshot()
    slabs.rows_by_vital = {"LCP": {"/": [3, 0, 0, 0, 3.5]}}
    now[0] = 90.0
    summary.close()  # replaces the frame of 00:01, a minute that began before the run did
    assert [(line["count"], line["final"]) for line in of_type(events, "metric_collected")] == [(2, False), (1, True)]
