"""A real Alertmanager delivers budget alerts to the exporter's webhook (bearer credentials): a firing LCP
alert becomes exactly one dry-run of the images playbook with a real preview, however often Alertmanager
delivers it, and the resolved alert marks that run resolved.

The alerts are posted to Alertmanager's API v2 with the labels the generated rules put on them; the
exporter runs as `perfbudget serve` with two worker processes, so idempotency is tested across processes.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from .stack import Server, alertmanager, exporter, http, wait_for, webhook_alertmanager_config

pytestmark = pytest.mark.integration
TOKEN = "integration-webhook-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LABELS = {"alertname": "WebVitalsBudgetExceeded", "metric": "LCP", "route": "/", "device": "phone",
          "budget": "lcp", "severity": "warning"}


def _photo(path: Path) -> None:
    """A noisy 1600x1000 JPEG well over the images action's 100 kB floor."""
    rng = random.Random(7)
    image = Image.new("RGB", (1600, 1000))
    image.putdata([(rng.randrange(256), (x * 7) % 256, (x // 5) % 256) for x in range(1600 * 1000)])
    image.save(path, quality=92)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    tmp = tmp_path_factory.mktemp("webhook")
    site = tmp / "site"
    (site / "img").mkdir(parents=True)
    _photo(site / "img" / "hero.jpg")
    (site / "index.html").write_text('<html><body><img src="/img/hero.jpg"></body></html>')
    config = {"auth": {"tokens": [{"name": "alertmanager", "token": TOKEN, "scopes": ["webhook", "read"]}]},
              "site_root": str(site)}
    with exporter(tmp / "exporter", config=config, workers=2) as exp:
        am_config = webhook_alertmanager_config(exp.url, TOKEN, repeat_interval="2s")
        am_file = tmp / "alertmanager.yml"
        am_file.write_text(yaml.safe_dump(am_config))
        with alertmanager(tmp / "am", am_file) as am:
            yield exp, am


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _runs(exp: Server, playbook: str) -> list[dict[str, Any]]:
    status, body = http("GET", f"{exp.url}/api/perf-fix/runs?playbook={playbook}")
    assert status == 200, body
    runs: list[dict[str, Any]] = body["runs"]
    return runs


def _run(exp: Server, run_id: str) -> dict[str, Any]:
    status, body = http("GET", f"{exp.url}/api/perf-fix/runs/{run_id}", headers=AUTH)  # whole: "read" scope
    assert status == 200, body
    return dict(body)


def test_a_firing_alert_becomes_one_dry_run_with_a_preview_and_its_resolution_marks_it(
    stack: tuple[Server, Server],
) -> None:
    exp, am = stack
    assert http("POST", f"{exp.url}/api/alertmanager", {"version": "4", "alerts": []})[0] == 401
    starts = _now()
    alert = {"labels": LABELS, "annotations": {"summary": "LCP p75 over budget on /"}, "startsAt": starts,
             "generatorURL": "http://prometheus.test/graph"}
    sent = time.monotonic()
    assert http("POST", f"{am.url}/api/v2/alerts", [alert])[0] == 200

    def finished() -> dict[str, Any] | None:
        runs = [r for r in _runs(exp, "optimize-images") if r["state"] in ("succeeded", "failed")]
        return runs[0] if runs else None

    run = wait_for(finished, 60, what="a finished dry run of optimize-images")
    elapsed = time.monotonic() - sent
    print(f"\nalert posted to Alertmanager -> recorded preview: {elapsed:.1f}s", file=sys.stderr)
    detail = _run(exp, run["id"])
    assert detail["mode"] == "dry-run" and detail["state"] == "succeeded", detail
    assert detail["alert"]["startsAt"][:19] == starts[:19]
    images = detail["actions"][0]
    assert images["kind"] == "images" and images["status"] == "previewed"
    assert images["preview"]["bytesBefore"] > 100_000 and images["preview"]["bytesSaved"] > 0
    assert detail["trigger"]["labels"] == LABELS and detail["trigger"]["receiver"] == "perfbudget"
    assert detail["expectedImprovement"] and detail["verificationUrl"].endswith(run["id"])

    # repeat_interval is 2s: Alertmanager delivers the same firing alert again, each answered from the log.
    wait_for(lambda: _run(exp, run["id"])["deliveries"] >= 3, 30, what="repeated deliveries")
    same = [r for r in _runs(exp, "optimize-images") if r["alert"] and r["alert"]["fingerprint"]
            == detail["alert"]["fingerprint"]]
    assert [r["id"] for r in same] == [run["id"]]

    ended = {**alert, "endsAt": _now()}
    assert http("POST", f"{am.url}/api/v2/alerts", [ended])[0] == 200
    wait_for(lambda: _run(exp, run["id"])["alert"]["status"] == "resolved", 30, what="the resolved notification")
    assert [r["id"] for r in _runs(exp, "optimize-images")] == [run["id"]]


def test_the_exporter_counts_what_alertmanager_delivered(stack: tuple[Server, Server]) -> None:
    exp, _ = stack
    _, text = http("GET", f"{exp.url}/metrics")
    assert 'perfbudget_alerts_received_total{status="firing"}' in text
    assert 'perfbudget_playbook_runs_total{mode="dry-run",outcome="succeeded",playbook="optimize-images"}' in text
