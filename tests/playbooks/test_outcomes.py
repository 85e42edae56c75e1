"""Fix outcomes: success rate, before and after, ROI, time to resolution and the outcome metrics, from a real
audit log (SQLite) and real histogram snapshots (the summary's window API)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from prometheus_client import CollectorRegistry

from perfbudget.budgets.model import VitalBudget
from perfbudget.config import Config
from perfbudget.metrics import Metrics
from perfbudget.playbooks import build_runner, load_playbooks
from perfbudget.playbooks.outcome_metrics import OutcomeRecorder
from perfbudget.playbooks.outcome_metrics import resolved as observe_resolved
from perfbudget.playbooks.outcome_text import roi_text
from perfbudget.playbooks.outcomes import Outcomes
from perfbudget.playbooks.records import NewRun
from perfbudget.playbooks.runner import Runner
from perfbudget.playbooks.store import Resolution, Store, idempotency_key
from perfbudget.snapshots import SnapshotStore
from perfbudget.store import Observer
from perfbudget.summary import SummaryService
from perfbudget.vitals import VITALS, bucket_edges

from .conftest import BASIC, EchoKind, alert, get, payload, playbook

EDGES = {name: tuple(sorted({*bucket_edges(v), 2.5})) for name, v in VITALS.items()}
BUDGET = VitalBudget(metric="LCP", target=2500, name="lcp-cart", min_samples=50)  # ms, as in budgets.yaml


def budget_for(metric: str, route: str | None, device: str | None) -> VitalBudget | None:
    return BUDGET if metric == "LCP" else None


class Loads:
    """Page loads observed into a real metrics store, read by a real summary over real snapshots."""

    def __init__(self, tmp: Path) -> None:
        self.metrics = Metrics(CollectorRegistry(), EDGES)
        self.summary = SummaryService(self.metrics.reader, EDGES, SnapshotStore(tmp / "summary.sqlite"), "run-1",
                                      started=0)
        self._observers: dict[str, Observer] = {}

    def lcp(self, route: str, seconds: float, count: int) -> None:
        observe = self._observers.get(route) or self.metrics.vitals["LCP"].observer((route, "phone"))
        assert observe is not None
        self._observers[route] = observe
        for _ in range(count):
            observe(seconds)
            self.metrics.accepted["LCP"]()  # as the beacon endpoint counts it: the summary's reads see it at once


@pytest.fixture
def setup(make_config: Callable[..., Config], echo: EchoKind, book_dir: Path,
          tmp_path: Path) -> tuple[Runner, Loads, Outcomes]:
    config = make_config(playbooks={"directory": str(book_dir), "execute": ["test-images"]})
    runner = build_runner(config, load_playbooks(config))
    loads = Loads(tmp_path)
    return runner, loads, Outcomes(runner.store, loads.summary, runner.playbooks, budget_for, EDGES)


def execute(runner: Runner, route: str = "/cart") -> str:
    run = runner.submit_manual("test-images", execute=True, auto_approve=True, trigger={"type": "cli"}, route=route)
    done = runner.run_now(run.id)
    assert done.state == "succeeded", done.message
    return done.id


def test_an_execute_that_brings_lcp_within_its_budget_counts_as_a_success_with_its_roi(
    setup: tuple[Runner, Loads, Outcomes],
) -> None:
    runner, loads, outcomes = setup
    loads.lcp("/cart", 5.0, 60)  # before: every load poor, over the 2.5 s budget
    loads.summary.snapshot(now=time.time())
    run_id = execute(runner)
    loads.lcp("/cart", 1.0, 80)  # after: every load good
    loads.lcp("/other", 9.0, 500)  # another route: not this execute's
    report = outcomes.report()
    book = next(b for b in report["playbooks"] if b["playbookId"] == "test-images")
    assert book["runs"] == 1 and book["executions"] == 1 and book["dryRuns"] == 0
    assert book["succeeded"] == 1 and book["successRate"] == 1.0
    assert book["outcomes"]["improved"] == 1
    row = book["executionsList"][0]
    assert row["runId"] == run_id and row["route"] == "/cart" and row["outcome"] == "improved"
    assert row["final"] is False and row["complete"] is False  # the windows are still open
    assert book["before"]["samples"] == 60 and book["before"]["goodShare"] == 0.0
    assert book["after"]["samples"] == 80 and book["after"]["goodShare"] == 1.0
    assert book["before"]["p75"] > 4000 and book["after"]["p75"] <= 1100 and book["after"]["unit"] == "ms"
    assert book["pageViewsAffected"] == 80
    # only the safe step applied (playbooks.max_risk is safe): the echo action saves 750 of 1000 bytes
    assert book["bytesSaved"] == 750 and row["bytesSaved"] == 750
    roi = book["roi"]
    assert roi["goodSharePoints"] == 100.0
    assert roi["moreGoodLoadsPerDay"] == pytest.approx(roi["pageViewsPerDay"], rel=1e-3)
    assert roi["text"].startswith("+100 points on ") and roi["text"].endswith(" more good loads a day")
    assert "1 improved past its budget (100 % success)" in book["summary"], book["summary"]
    assert report["totals"]["executions"] == 1 and report["totals"]["successRate"] == 1.0


def test_too_few_loads_read_not_enough_data_and_a_vital_still_over_budget_is_no_success(
    setup: tuple[Runner, Loads, Outcomes],
) -> None:
    runner, loads, outcomes = setup
    loads.lcp("/cart", 5.0, 60)
    loads.summary.snapshot(now=time.time())
    execute(runner)
    loads.lcp("/cart", 4.0, 12)
    book = outcomes.report("test-images")["playbooks"][0]
    assert book["outcomes"]["waiting"] == 1 and book["succeeded"] == 0 and book["successRate"] == 0.0
    assert book["after"]["enoughData"] is False
    assert book["after"]["text"] == "not enough data (12 of 50 page loads)"
    assert book["roi"] is None
    loads.lcp("/cart", 4.0, 60)  # now enough loads, but still over the budget
    book = outcomes.report("test-images")["playbooks"][0]
    assert book["outcomes"]["notImproved"] == 1 and book["successRate"] == 0.0
    assert book["roi"]["goodSharePoints"] == 0.0


def test_a_verdict_is_settled_and_counted_once_when_its_verification_window_has_passed(
    setup: tuple[Runner, Loads, Outcomes],
) -> None:
    runner, loads, outcomes = setup
    loads.lcp("/cart", 5.0, 60)
    loads.summary.snapshot(now=time.time())
    run_id = execute(runner)
    run = runner.store.get(run_id)
    assert run is not None and run.finished_at is not None
    loads.lcp("/cart", 1.0, 70)
    loads.summary.snapshot(now=run.finished_at + 120)  # the minute after the execute
    metrics = Metrics(CollectorRegistry(), EDGES)
    recorder = OutcomeRecorder(outcomes, metrics)
    assert outcomes.settle(now=run.finished_at + 60) == []  # the hour after it is not over
    later = run.finished_at + 3700
    assert outcomes.settle(now=later) == [("test-images", "improved")]
    assert outcomes.settle(now=later) == []
    assert recorder.settle() == 0  # another process's round: nothing left to count
    settled = runner.store.get(run_id)
    assert settled is not None and settled.outcome == "improved"
    again = Store(runner.store.path).executions("test-images")[0]  # a second process reads the same verdict
    assert again.outcome == "improved"


def test_the_bytes_saved_counter_is_recorded_when_an_execute_ends(setup: tuple[Runner, Loads, Outcomes]) -> None:
    runner, _, outcomes = setup
    metrics = Metrics(CollectorRegistry(), EDGES)
    recorder = OutcomeRecorder(outcomes, metrics, interval=3600)
    recorder.start()
    try:
        execute(runner)
    finally:
        recorder.close()
    registry = metrics.client_registry()
    assert registry.get_sample_value("perfbudget_playbook_bytes_saved_total", {"playbook": "test-images"}) == 750
    # every series starts at zero (so Prometheus sees the first increase); the verdict is not known yet
    for outcome in ("improved", "not_improved", "not_enough_data", "failed", "rolled_back", "unmeasured"):
        assert registry.get_sample_value("perfbudget_playbook_outcomes_total",
                                         {"playbook": "test-images", "outcome": outcome}) == 0
    assert registry.get_sample_value("perfbudget_playbook_resolution_seconds_count",
                                     {"playbook": "optimize-images", "outcome": "by_hand"}) == 0


def test_a_failed_execute_is_settled_and_counted_when_it_ends(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path, tmp_path: Path,
) -> None:
    failing = playbook(id="test-fails", actions=[{"id": "breaks", "description": "fails", "kind": "test-echo",
                                                  "automated": True, "risk": "safe", "params": {"fail": True}}])
    (book_dir / "test-fails.yaml").write_text(yaml.safe_dump(failing))
    config = make_config(playbooks={"directory": str(book_dir), "execute": ["test-fails"]})
    runner = build_runner(config, load_playbooks(config))
    loads = Loads(tmp_path)
    outcomes = Outcomes(runner.store, loads.summary, runner.playbooks, budget_for, EDGES)
    metrics = Metrics(CollectorRegistry(), EDGES)
    recorder = OutcomeRecorder(outcomes, metrics, interval=3600)
    recorder.start()
    try:
        run = runner.submit_manual("test-fails", execute=True, auto_approve=True, trigger={"type": "cli"})
        assert runner.run_now(run.id).state == "failed"
    finally:
        recorder.close()
    assert metrics.client_registry().get_sample_value(
        "perfbudget_playbook_outcomes_total", {"playbook": "test-fails", "outcome": "failed"}) == 1
    assert outcomes.settle() == []  # already settled when it ended
    book = outcomes.report("test-fails")["playbooks"][0]
    assert book["outcomes"]["failed"] == 1 and book["successRate"] == 0.0 and book["bytesSaved"] == 0


def _firing(playbook: str, mode: str, fingerprint: str, starts_at: str) -> NewRun:
    labels = {"alertname": "WebVitalsBudgetExceeded", "route": "/cart"}
    return NewRun(playbook, mode,  # type: ignore[arg-type]
                  {"type": "alert", "labels": labels}, {}, idempotency_key(playbook, fingerprint, starts_at),
                  fingerprint, starts_at)


def test_time_to_resolution_is_from_the_alerts_start_to_its_end_for_executes_and_by_hand(
    setup: tuple[Runner, Loads, Outcomes],
) -> None:
    runner, _, outcomes = setup
    store = runner.store
    store.record_delivery([_firing("test-images", "dry-run", "a", "2026-01-01T10:00:00.000Z"),
                           _firing("test-images", "execute", "b", "2026-01-01T10:00:00Z")],
                          [], queue_size=100, cooldown_seconds=0)
    recorded = store.record_delivery(
        [], [Resolution("a", "2026-01-01T10:00:00.000Z", "2026-01-01T11:30:00.123456789Z"),
             Resolution("b", "2026-01-01T10:00:00Z", "2026-01-01T10:10:00Z")],
        queue_size=100, cooldown_seconds=0)
    assert sorted(run.ends_at or "" for run in recorded.resolved) == ["2026-01-01T10:10:00Z",
                                                                      "2026-01-01T11:30:00.123456789Z"]
    times = outcomes.report("test-images")["playbooks"][0]["timeToResolution"]
    assert times["byHand"] == {"count": 1, "medianSeconds": 5400.1, "meanSeconds": 5400.1, "maxSeconds": 5400.1}
    assert times["executed"] == {"count": 1, "medianSeconds": 600.0, "meanSeconds": 600.0, "maxSeconds": 600.0}
    metrics = Metrics(CollectorRegistry(), EDGES)
    observe_resolved(metrics, recorded.resolved)
    registry = metrics.client_registry()
    for how, seconds in (("by_hand", 5400.123456), ("executed", 600.0)):
        labels = {"playbook": "test-images", "outcome": how}
        assert registry.get_sample_value("perfbudget_playbook_resolution_seconds_sum", labels) == pytest.approx(seconds)


def test_an_older_audit_log_gains_the_new_columns_and_its_runs_keep_loading(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("""CREATE TABLE runs (id TEXT PRIMARY KEY, playbook TEXT NOT NULL, mode TEXT NOT NULL,
        state TEXT NOT NULL, idem_key TEXT UNIQUE, fingerprint TEXT, starts_at TEXT, alert_status TEXT,
        resolved_at REAL, trigger TEXT NOT NULL, options TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL,
        finished_at REAL, owner TEXT, message TEXT NOT NULL DEFAULT '', result TEXT NOT NULL DEFAULT '{}',
        deliveries INTEGER NOT NULL DEFAULT 1)""")
    db.execute("INSERT INTO runs (id, playbook, mode, state, fingerprint, starts_at, alert_status, resolved_at, "
               "trigger, options, created_at, started_at, finished_at) VALUES ('0190000000a-0000000001', "
               "'optimize-images', 'execute', 'succeeded', 'fp', '2025-01-01T00:00:00Z', 'resolved', 1735693200, "
               "'{}', '{}', 1735689600, 1735689600, 1735689660)")
    db.commit()
    db.close()
    store = Store(path)
    run = store.get("0190000000a-0000000001")
    assert run is not None and run.ends_at is None and run.outcome == ""
    assert run.resolution_seconds == 3600  # no endsAt recorded then: when the resolution arrived
    assert store.executions(unsettled=True) == []  # old runs are not counted again at the upgrade
    Store(path)  # a second worker opening the migrated log changes nothing
    assert store.get(run.id) is not None


def test_the_roi_sentence_reads_as_the_issue_says() -> None:
    assert roi_text(12, 40_000, 4_800) == "+12 points on 40,000 views a day = 4,800 more good loads a day"
    assert roi_text(-2.5, 1_000, -25) == "-2.5 points on 1,000 views a day = 25 fewer good loads a day"


def _metric(client: Any, name: str, labels: dict[str, str]) -> float | None:
    text = client.get("/metrics").get_data(as_text=True)
    wanted = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in text.splitlines():
        if line.startswith(wanted):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_the_api_answers_the_outcomes_and_the_webhook_observes_the_time_to_resolution(app: Flask) -> None:
    client = app.test_client()
    fired = alert(starts_at="2026-03-01T08:00:00.000Z")
    assert client.post("/api/alertmanager", json=payload(fired), headers=BASIC).status_code == 200
    ended = {**alert("resolved", starts_at="2026-03-01T08:00:00.000Z"), "endsAt": "2026-03-01T08:45:00.000Z"}
    assert client.post("/api/alertmanager", json=payload(ended), headers=BASIC).status_code == 200
    answer = get(client, "/api/perf-fix/outcomes?playbook=test-images&window=1d")
    assert answer.status_code == 200, answer.json
    assert answer.json["success"] is True and answer.json["ok"] is True
    data = answer.json["data"]
    assert data["window"] == 86400 and data["verificationWindow"] == 3600
    book = data["playbooks"][0]
    assert set(book) >= {"playbookId", "name", "metric", "runs", "dryRuns", "executions", "succeeded",
                         "successRate", "outcomes", "timeToResolution", "before", "after", "pageViewsAffected",
                         "bytesSaved", "roi", "summary", "executionsList"}
    assert book["runs"] == 1 and book["dryRuns"] == 1 and book["executions"] == 0 and book["successRate"] is None
    assert book["timeToResolution"]["byHand"]["medianSeconds"] == 2700.0
    assert "alerts resolved by hand in 45 min (median of 1)" in book["summary"], book["summary"]
    labels = {"outcome": "by_hand", "playbook": "test-images"}
    assert _metric(client, "perfbudget_playbook_resolution_seconds_count", labels) == 1.0
    assert _metric(client, "perfbudget_playbook_resolution_seconds_sum", labels) == 2700.0


@pytest.mark.parametrize(("query", "status", "error"), [
    ("?playbook=test-imges", 404, "playbook: 'test-imges' is not a loaded playbook and has no runs (did you mean "
                                  "test-images, optimize-images?)"),
    ("?window=8d", 400, "window: window '8d' must be between 1m and 7d"),
    ("?window=soon", 400, "window: window 'soon' is not a duration like 30m, 1h, 6h, 1d"),
])
def test_a_bad_parameter_is_refused_naming_it(app: Flask, query: str, status: int, error: str) -> None:
    answer = get(app.test_client(), f"/api/perf-fix/outcomes{query}")
    assert answer.status_code == status
    assert answer.json == {"success": False, "ok": False, "error": error}


def test_reads_follow_the_read_rule(pb_app: Callable[..., Flask]) -> None:
    app = pb_app(auth={"anonymous_reads": False, "tokens": [{"name": "ci", "token": "t" * 32, "scopes": ["read"]}]})
    client = app.test_client()
    assert client.get("/api/perf-fix/outcomes").status_code == 401
    answer: Any = client.get("/api/perf-fix/outcomes", headers={"Authorization": "Bearer " + "t" * 32})
    assert answer.status_code == 200
    assert {b["playbookId"] for b in answer.json["data"]["playbooks"]} >= {"test-images"}


def test_the_console_lists_the_outcomes_of_the_playbooks_that_ran_in_words(app: Flask) -> None:
    client = app.test_client()
    assert "No playbook has run yet." in client.get("/").get_data(as_text=True)
    fired = alert(starts_at="2026-03-01T08:00:00.000Z")
    assert client.post("/api/alertmanager", json=payload(fired), headers=BASIC).status_code == 200
    ended = {**alert("resolved", starts_at="2026-03-01T08:00:00.000Z"), "endsAt": "2026-03-01T10:00:00.000Z"}
    assert client.post("/api/alertmanager", json=payload(ended), headers=BASIC).status_code == 200
    page = client.get("/").get_data(as_text=True)
    section = page[page.index('<div id="outcomes">'):]
    section = section[:section.index("</div>")]
    assert '<tr class="outcome" data-playbook="test-images">' in section
    assert "<td>2 h by hand</td>" in section and "1 run, 0 executions</span>" in section
    assert "1 run, 0 executions; alerts resolved by hand in 2 h (median of 1)." in section
    assert 'data-playbook="api-latency"' not in section  # no runs: not listed
