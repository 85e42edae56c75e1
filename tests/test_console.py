"""The landing page: says what the exporter is, links its endpoints, and shows what the beacons reported."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


def test_the_landing_page_names_the_exporter_and_links_its_endpoints(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Real-user Core Web Vitals and performance budgets" in text
    for link in ('href="/metrics"', 'href="/api/web-vitals?window=1h"', 'href="/-/healthy"', 'href="/beacon.js"'):
        assert link in text
    assert "No runs yet" in text


def test_the_landing_page_shows_the_p75_of_what_arrived(client: FlaskClient) -> None:
    batch = [{"name": "LCP", "value": 3100 + i, "id": f"v{i}", "pageUrl": "https://shop.test/cart"} for i in range(4)]
    assert client.post("/api/web-vitals", json=batch).status_code == 200
    text = client.get("/?window=5m").get_data(as_text=True)
    assert "<code>/cart</code>" in text
    assert 'class="pill needs-improvement">needs-improvement' in text
    assert "last 5m" in text


def test_the_web_vitals_library_is_served_beside_the_beacon(client: FlaskClient) -> None:
    # From the npm package that scripts/install-test-deps installs (the Docker image copies it in).
    script = client.get("/web-vitals.attribution.iife.js")
    assert script.status_code == 200
    assert b"onLCP" in script.data and script.mimetype == "text/javascript"


def test_without_the_library_the_answer_says_how_to_get_it(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perfbudget.web import ops

    monkeypatch.setattr(ops, "web_vitals_script", lambda: None)
    answer = client.get("/web-vitals.attribution.iife.js")
    assert answer.status_code == 404
    assert "PERFBUDGET_WEB_VITALS_JS" in answer.get_json()["error"]


def test_the_landing_page_lists_recent_playbook_runs(client: FlaskClient) -> None:
    started = client.post("/api/perf-fix", json={"playbookId": "reduce-js-execution", "dryRun": True})
    assert started.status_code == 202, started.json
    run_id = started.json["id"]
    text = client.get("/").get_data(as_text=True)
    assert f'href="/api/perf-fix/runs/{run_id}"' in text
    assert "reduce-js-execution" in text and "No runs yet" not in text
