"""The `cause` label of LCP and INP alerts (the dominant subpart or phase at p75, see budgets/stages/
vitals_causes.py) picks the bundled playbook that addresses it: exactly one per alert, through the real matching
code (`Playbooks.matching`, what the webhook runs) and through POST /api/alertmanager itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from perfbudget.budgets import naming
from perfbudget.config import Config
from perfbudget.playbooks.model import load_playbooks

from .conftest import BEARER, TOKEN, alert, payload

# (metric, cause or None for an alert without one) -> the one bundled playbook it starts.
EXPECTED: list[tuple[str, str | None, str]] = [
    ("LCP", "resource_load_delay", "optimize-images"),  # its preload-lcp-image action (fetchpriority=high)
    ("LCP", "resource_load_duration", "optimize-images"),
    ("LCP", "time_to_first_byte", "server-response-caching"),
    ("LCP", "element_render_delay", "render-blocking-resources"),
    ("LCP", "unknown", "optimize-images"),  # LCP's default, as for an alert without a cause
    ("LCP", None, "optimize-images"),
    ("INP", "processing_duration", "reduce-js-execution"),
    ("INP", "input_delay", "reduce-js-execution"),
    ("INP", "presentation_delay", "reduce-js-execution"),
    ("INP", "unknown", "reduce-js-execution"),
    ("INP", None, "reduce-js-execution"),
    ("FCP", None, "render-blocking-resources"),
    ("TTFB", None, "server-response-caching"),
    ("CLS", None, "layout-stability"),
]


def _labels(metric: str, cause: str | None) -> dict[str, str]:
    labels = {"alertname": naming.ALERT_VITAL_BUDGET, "metric": metric, "budget": metric.lower(),
              "severity": "critical", "route": "/checkout", "device": "phone"}
    return {**labels, **({naming.CAUSE_LABEL: cause} if cause is not None else {})}


def test_every_cause_the_rules_can_name_is_in_the_table() -> None:
    for metric, (_, _, parts) in naming.BREAKDOWNS.items():
        assert {c for m, c, _ in EXPECTED if m == metric} == {*parts, naming.CAUSE_UNKNOWN, None}


@pytest.mark.parametrize(("metric", "cause", "expected"), EXPECTED, ids=[f"{m}-{c}" for m, c, _ in EXPECTED])
def test_a_cause_starts_exactly_the_playbook_that_addresses_it(
        make_config: Callable[..., Config], metric: str, cause: str | None, expected: str) -> None:
    playbooks = load_playbooks(make_config())
    for alertname in (naming.ALERT_VITAL_BUDGET, naming.ALERT_VITAL_REGRESSION, naming.ALERT_VITAL_OBJECTIVE):
        assert [book.id for book in playbooks.matching({**_labels(metric, cause), "alertname": alertname})] == [
            expected]


def test_the_webhook_starts_one_run_per_alert_with_the_playbook_of_its_cause(
        make_app: Callable[..., Flask], tmp_path: Path) -> None:
    empty = tmp_path / "no-playbooks"
    empty.mkdir()  # the bundled playbooks alone
    app = make_app(playbooks={"directory": str(empty), "cooldown_seconds": 0},
                   auth={"tokens": [{"name": "ci", "token": TOKEN}]})
    alerts = [alert(fingerprint=f"fp{i}", **{k: v for k, v in _labels(metric, cause).items()})
              for i, (metric, cause, _) in enumerate(EXPECTED)]
    answer = app.test_client().post("/api/alertmanager", json=payload(*alerts), headers=BEARER)
    assert answer.status_code == 200, answer.json
    assert answer.json["unmatched"] == 0
    started = sorted((run["fingerprint"], run["playbookId"]) for run in answer.json["runs"])
    assert started == sorted((f"fp{i}", expected) for i, (_, _, expected) in enumerate(EXPECTED))


def test_get_perf_fix_lists_a_match_of_alternatives_as_written(make_config: Callable[..., Config]) -> None:
    playbooks = load_playbooks(make_config())
    assert playbooks["server-response-caching"].spec.summary()["match"] == [
        ['metric=~"TTFB"'], ['metric=~"LCP"', 'cause="time_to_first_byte"']]
    assert playbooks["optimize-images"].spec.summary()["match"] == [
        'metric=~"LCP"', 'cause!~"time_to_first_byte|element_render_delay"']
