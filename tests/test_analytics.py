"""GET /api/performance-analytics (issue 14, section 2) through Flask, and the analytics' parts: ranges, the
guide's trend words, the recommendations' priority, the snapshots' retention (METRICS_RETENTION_DAYS)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from perfbudget.analytics import parse_range
from perfbudget.analytics.recommendations import Breach, recommend
from perfbudget.analytics.trends import lower_is_better, volume
from perfbudget.config import ConfigError, load_config
from perfbudget.playbooks.model import load_playbooks
from perfbudget.snapshots import DAY, SnapshotStore

NUMBER = (int, float)


@pytest.mark.parametrize(("text", "seconds", "step", "points"), [
    ("1h", 3600, 300, 12), ("24h", 86400, 3600, 24), ("7d", 604800, 6 * 3600, 28), ("30d", 2592000, 86400, 30),
    ("90m", 5400, 300, 18),
])
def test_a_range_is_a_number_and_a_unit_with_a_step_for_its_series(text: str, seconds: int, step: int,
                                                                   points: int) -> None:
    span = parse_range(text, 30)
    assert (span.seconds, span.step, span.points) == (seconds, step, points)


@pytest.mark.parametrize(("text", "message"), [
    ("45x", "timeRange: '45x' is not a range; use a whole number and a unit, m, h or d (for example 1h, 24h, 7d, "
            "30d), at most 30d"),
    ("1w", "timeRange: '1w' is not a range"),
    ("2m", "timeRange: '2m' is shorter than 5m, the shortest range"),
    ("31d", "timeRange: '31d' is longer than the 30d of snapshots kept (METRICS_RETENTION_DAYS"),
])
def test_a_bad_range_names_the_field_and_the_allowed_form(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_range(text, 30)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(("first", "second", "lower", "more"), [
    (100.0, 80.0, "improving", "degrading"), (100.0, 103.0, "stable", "stable"),
    (100.0, 120.0, "degrading", "increasing"), (0.0, 5.0, "degrading", "increasing"), (None, 5.0, None, None),
])
def test_trends_are_the_guides_words_from_the_second_half_against_the_first(
        first: float | None, second: float | None, lower: str | None, more: str | None) -> None:
    assert lower_is_better(first, second) == lower
    assert volume(first, second) == more


def _breach(metric: str, severity: str, poor: bool = False) -> Breach:
    return Breach(metric, "/cart", "3,000 ms", "2,500 ms", f"{metric.lower()}-site", severity, poor, 100)


def test_priority_weighs_the_breach_and_the_playbooks_impact_against_its_effort(
        make_config: Callable[..., Any]) -> None:
    playbooks = load_playbooks(make_config())
    found = recommend([_breach("INP", "warning"), _breach("LCP", "critical"), _breach("FID", "warning")],
                      playbooks, lambda playbook: None)
    answers = [r.to_json() for r in found]
    # LCP: critical 2 + optimize-images (impact high 2, effort low 0) = 4; INP: warning 1 + reduce-js-execution
    # (high 2 - high 2) = 1; no playbook for FID: 1.
    assert [(a["metric"], a["points"], a["priority"], a["playbookId"]) for a in answers] == [
        ("LCP", 4, "high", "optimize-images"), ("INP", 1, "medium", "reduce-js-execution"),
        ("FID", 1, "medium", None)]
    assert answers[0]["otherPlaybooks"] == ["render-blocking-resources"]
    assert (answers[0]["impact"], answers[0]["effort"]) == ("high", "low")
    assert answers[2]["impact"] is None and "No playbook addresses FID." in answers[2]["description"]


def test_the_snapshots_retention_is_a_parameter(tmp_path: Path) -> None:
    now = 100 * DAY
    short, default = SnapshotStore(tmp_path / "short.sqlite", 2 * DAY), SnapshotStore(tmp_path / "default.sqlite")
    for store in (short, default):
        store.begin_epoch("e", now - 5 * DAY)
        store.save("e", int(now - 3 * DAY), {"LCP": {"/": [1, 0]}})
        store.save("e", int(now - 60), {"LCP": {"/": [2, 0]}})
        store.downsample(int(now))
    assert [h.ts for h in short.heads(now - DAY).values()] == []
    assert [h.ts for h in default.heads(now - DAY).values()] == [int(now - 3 * DAY)]


def test_metrics_retention_days_comes_from_the_guides_variable(tmp_path: Path) -> None:
    assert load_config(None, env={}).metrics_retention_days == 30
    assert load_config(None, env={"METRICS_RETENTION_DAYS": "7"}).metrics_retention_days == 7
    with pytest.raises(ConfigError, match="METRICS_RETENTION_DAYS"):
        load_config(None, env={"METRICS_RETENTION_DAYS": "0"})


def _post(client: FlaskClient, batch: list[dict[str, Any]]) -> None:
    answer = client.post("/api/web-vitals", data=json.dumps(batch), headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200, answer.json


@pytest.fixture
def over_budget(make_app: Callable[..., Flask], tmp_path: Path) -> FlaskClient:
    """An LCP budget of 1750 ms, and 40 page views on / and /cart at about 2100 ms, blaming the hero image."""
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("vitals:\n  - metric: LCP\n    name: lcp-site\n    target: 1750\n    severity: critical\n"
                       "    min_samples: 10\n")
    client = make_app(budgets_file=str(budgets), metrics_retention_days=7).test_client()
    batch = [{"name": "LCP", "value": 2090 + i % 20, "delta": 1, "id": f"v-{i}", "navigationType": "navigate",
              "pageUrl": f"https://shop.test/{'cart' if i % 2 else ''}?session={i}",
              "attribution": {"url": "https://shop.test/img/hero.jpg", "target": "img.hero"}} for i in range(40)]
    for start in range(0, 40, 10):
        _post(client, batch[start:start + 10])
    return client


def test_the_answer_has_the_guides_fields_and_the_vitals_over_the_range(over_budget: FlaskClient) -> None:
    answer = over_budget.get("/api/performance-analytics?timeRange=1h")
    assert answer.status_code == 200, answer.json
    body = answer.get_json()
    assert body["success"] is True
    data = body["data"]
    assert data["timeRange"] == "1h"
    assert set(data["metrics"]) >= {"avgResponseTime", "peakResponseTime", "totalRequests", "errorRate", "uptime"}
    assert set(data["trends"]) >= {"responseTime", "errorRate", "throughput"}
    for name, value in data["trends"].items():
        assert value in ("improving", "stable", "increasing", "degrading", None), name
    lcp = data["webVitals"]["routes"]["/cart"]["LCP"]
    assert (lcp["samples"], lcp["withinBudget"], lcp["budget"]["name"]) == (20, False, "lcp-site")
    assert lcp["rating"] == "good"
    assert isinstance(lcp["p75"], NUMBER) and 1750 < lcp["p75"] <= 2500
    assert lcp["goodShare"] == 1.0
    assert data["webVitals"]["overall"]["LCP"]["samples"] == 40
    recommendation = data["recommendations"][0]
    for field in ("type", "title", "description", "impact", "effort", "priority"):
        assert isinstance(recommendation[field], str), field
    assert recommendation["playbookId"] == "optimize-images" and recommendation["priority"] == "high"
    assert "https://shop.test/img/hero.jpg (20 of 20 reports)" in recommendation["description"]
    points = data["series"]["vitals"]["LCP"]["points"]
    assert len(points) == 12 and sum(p["samples"] for p in points) == 40
    assert data["series"]["vitals"]["LCP"]["budget"]["target"] == 1750.0


def test_a_bad_or_too_long_range_is_a_400_naming_the_field(over_budget: FlaskClient) -> None:
    answer = over_budget.get("/api/performance-analytics?timeRange=45x")
    body = answer.get_json()
    assert answer.status_code == 400
    assert body["success"] is False and body["ok"] is False
    assert body["error"].startswith("timeRange: '45x' is not a range; use a whole number and a unit")
    answer = over_budget.get("/api/performance-analytics?timeRange=8d")  # metrics_retention_days: 7
    assert answer.status_code == 400 and "longer than the 7d of snapshots kept" in answer.get_json()["error"]
    assert over_budget.get("/api/performance-analytics?timeRange=7d").status_code == 200
