"""The landing page: says what the exporter is, links its endpoints, and shows what the beacons reported."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from perfbudget.web.perffix import playbook_runner


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


def test_under_the_budgets_min_samples_the_p75_is_shown_as_its_bucket_with_low_confidence(
        client: FlaskClient) -> None:
    # One LCP of 3245 ms: the bundled LCP budget wants 50 samples, so the console gives the bucket, not "3.3 s".
    batch = [{"name": "LCP", "value": 3245, "id": "v-one", "pageUrl": "https://shop.test/cart"}]
    assert client.post("/api/web-vitals", json=batch).status_code == 200
    vital = client.get("/api/web-vitals?window=5m").json["metrics"]["LCP"]
    assert vital["confidence"] == "low" and vital["rangeText"] == "2.92-3.42 s, 1 sample"
    text = client.get("/?window=5m").get_data(as_text=True)
    assert "2.92-3.42 s, 1 sample <span class=\"muted\">low confidence</span>" in text
    assert "fewer than 50 page loads in this window" in text


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


def test_the_console_sends_its_security_headers_and_no_inline_code(client: FlaskClient) -> None:
    page = client.get("/")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    text = page.get_data(as_text=True)
    assert "<script>" not in text and "<style>" not in text and 'style="' not in text
    assert '<script src="/console.js"></script>' in text and 'href="/console.css"' in text
    script, style = client.get("/console.js"), client.get("/console.css")
    assert script.mimetype == "text/javascript" and b"fetch('/api/perf-fix'" in script.data
    assert style.mimetype == "text/css" and b".pill" in style.data


def test_the_console_shows_runs_without_the_servers_paths(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    client = make_app(site_root=str(site)).test_client()
    started = client.post("/api/perf-fix", json={"playbookId": "optimize-images", "dryRun": True})
    assert started.status_code == 202, started.json
    run = playbook_runner(client.application).store
    deadline = time.monotonic() + 20
    while run.get(started.json["id"]).state in ("queued", "running"):  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    text = client.get("/").get_data(as_text=True)
    assert "preload hint(s)" in text and "&lt;data_dir&gt;/runs/" in text
    assert str(tmp_path) not in text


def test_the_console_says_before_any_click_which_playbooks_need_a_site_root(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    text = make_app().test_client().get("/").get_data(as_text=True)
    note = text.split('id="site-root-note"', 1)[1].split("</p>", 1)[0]
    assert "needs a site root (set actions.allowed_dirs or PERFBUDGET_SITE_ROOT)" in note
    assert "<b>optimize-images</b> (convert-modern-formats)" in note
    assert "<b>layout-stability</b>" in note and "api-latency" not in note  # annotations and manual steps need none
    assert '<body data-refresh="30">' in text  # the founding design's interval, by default


def test_with_a_site_root_no_playbook_is_said_to_need_one(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    with_site = make_app(site_root=str(tmp_path / "site")).test_client().get("/").get_data(as_text=True)
    assert "site-root-note" not in with_site and "needs a site root" not in with_site


def test_the_console_refreshes_in_place_on_its_interval_and_carries_a_favicon_and_time_zones(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(server={"console_refresh_seconds": 7}).test_client()
    assert client.post("/api/perf-fix", json={"playbookId": "api-latency", "dryRun": True}).status_code == 202
    text = client.get("/").get_data(as_text=True)
    assert '<body data-refresh="7">' in text and "every 7 s" in text
    assert text.count("data-live") == 3  # the vitals, the runs, the routes: what console.js swaps in place
    assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in text
    assert " UTC</time>" in text and '<time datetime="20' in text
    form = text.split('<form id="token-form"', 1)[1].split("</form>", 1)[0]
    assert 'id="token"' in form and 'type="password"' in form
    for path in ("/favicon.svg", "/favicon.ico"):
        icon = client.get(path)
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and icon.data.startswith(b"<svg")
    assert "default-src 'none'" in icon.headers["Content-Security-Policy"]
    script = client.get("/console.js").data
    assert b"location.reload" not in script and b"DOMParser" in script and b"data-refresh" in script


def _lcp_with_parts(i: int, delay: float, page: str = "https://shop.test/cart") -> dict[str, object]:
    parts = {"timeToFirstByte": 150.0, "resourceLoadDelay": delay, "resourceLoadDuration": 300.0,
             "elementRenderDelay": 50.0}
    return {"name": "LCP", "value": sum(parts.values()), "id": f"{page}-{i}", "pageUrl": page, "attribution": parts}


def test_the_console_shows_the_breakdown_at_p75_and_names_the_dominant_part(client: FlaskClient) -> None:
    assert client.post("/api/web-vitals", json=[_lcp_with_parts(i, 2400) for i in range(10)]).status_code == 200
    text = client.get("/").get_data(as_text=True)
    section = text[text.index('<section id="breakdown">'):]
    section = section[:section.index("</section>")]
    assert "Why it is slow: LCP subparts and INP phases at p75" in section
    assert 'most of it is <b class="dominant-name">resource load delay</b>' in section
    assert "suggested fix: <code class=\"fix\">optimize-images (preload-lcp-image)</code>" in section
    row = section[section.index('data-part="resource_load_delay"'):]
    assert '<span class="tag">dominant</span>' in row[:row.index("</tr>")]
    # The bar's widths are CSS classes (the CSP allows no inline style), one per part, in 5 % steps.
    assert 'style="' not in text
    widths = re.findall(r'class="part part-(\d) w(\d+)( dominant)?"', section)
    assert [(index, dominant) for index, _, dominant in widths] == [("0", ""), ("1", " dominant"), ("2", ""), ("3", "")]
    assert 60 <= int(widths[1][1]) <= 90 and all(int(width) % 5 == 0 for _, width, _ in widths), widths
    assert b".w75 { width: 75%; }" in client.get("/console.css").data
    assert 'data-vital="INP"' not in section  # no INP reported: no breakdown for it


def test_with_sites_the_console_offers_a_site_selector_that_filters_the_summary(
        make_app: Callable[..., Flask]) -> None:
    client = make_app(sites=[{"name": "shop", "hosts": ["shop.test"]}, {"name": "blog", "hosts": ["blog.test"]}]
                      ).test_client()
    batch = [_lcp_with_parts(i, 2400) for i in range(6)] + [
        _lcp_with_parts(i, 100, page="https://blog.test/post") for i in range(4)]
    assert client.post("/api/web-vitals", json=batch).status_code == 200
    text = client.get("/").get_data(as_text=True)
    assert '<select id="site" name="site"><option value="">every site</option><option value="shop">shop</option>' \
           '<option value="blog">blog</option><option value="other">other</option></select>' in text
    blog = client.get("/?site=blog&window=1h").get_data(as_text=True)
    assert "on site blog" in blog and '<option value="blog" selected>blog</option>' in blog
    assert 'href="/api/web-vitals?window=1h&amp;site=blog"' in blog
    lcp = blog[blog.index("<b>LCP</b>"):]
    assert '<td class="num">4</td>' in lcp[:lcp.index("</tr>")]  # blog's 4 page loads, not all 10
    assert "most of it is <b class=\"dominant-name\">resource load duration</b>" in blog
    every = client.get("/?site=nosuch").get_data(as_text=True)  # not a site: every site, as without ?site=
    assert "on site" not in every and "(10 page loads)" in every


def test_without_sites_there_is_no_site_selector(client: FlaskClient) -> None:
    assert 'id="site-form"' not in client.get("/").get_data(as_text=True)
