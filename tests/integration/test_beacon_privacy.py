"""Sampling and privacy of beacon.js in a real Chromium, with the script as a real `perfbudget serve` serves it.

The sample rate is the exporter's (beacons.sample_rate), written into /beacon.js and exposed as
perfbudget_beacon_sample_rate; one draw per page view (the page's first Math.random() call, which the tests
set). Query strings and fragments are cut before sending unless data-keep-query; the fetch fallback omits
credentials unless data-credentials="include"; a before-send hook edits or drops reports. What leaves the
browser is read at a beacon collector of the test's own (site_spa.collector), since the exporter cleans
URLs again on its side and so cannot show what was sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser import chromium
from .site_spa import Received, collector, spa_site
from .stack import Server, beacon, exporter, http, wait_for

pytestmark = pytest.mark.integration
ROUTES = {"patterns": ["/products/:id", "/checkout/cart"]}
NO_BEACON = "Object.defineProperty(Navigator.prototype, 'sendBeacon', {value: function () { return false; }});"


def first_random(value: float) -> str:
    """An init script: the page's first Math.random() returns `value`, every later one 1 - value."""
    return ("(function () { var first = true; Math.random = function () { if (first) { first = false; "
            f"return {value}; }} return {1 - value}; }}; }})();")


@pytest.fixture
def half(tmp_path: Path) -> Iterator[Server]:
    with exporter(tmp_path, workers=1, config={"routes": ROUTES, "beacons": {"sample_rate": 0.5}}) as srv:
        yield srv


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with exporter(tmp_path_factory.mktemp("privacy"), workers=1, config={"routes": ROUTES}) as srv:
        yield srv


def counts(srv: Server, family: str) -> dict[str, float]:
    _, text = http("GET", f"{srv.url}/metrics")
    return {line.rsplit(" ", 1)[0][len(family):]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith(family + "{")}


def visit(browser: Any, url: str, init: str = "", click: bool = False, cookie_host: str | None = None) -> None:
    context = browser.new_context()
    if cookie_host is not None:
        context.add_cookies([{"name": "session", "value": "s3cret", "domain": cookie_host, "path": "/"}])
    if init:
        context.add_init_script(init)
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    if click:
        page.click("#slow")
        page.wait_for_function("document.getElementById('status').textContent === 'paid'")
    page.wait_for_timeout(300)
    page.goto("about:blank")
    page.wait_for_timeout(300)  # the batch of the hide leaves before the context goes
    context.close()


def reports(received: list[Received]) -> list[dict[str, Any]]:
    return [report for request in received for report in request.body]


def test_the_served_sample_rate_decides_once_per_page_view_and_is_exposed(half: Server) -> None:
    status, script = http("GET", f"{half.url}/beacon.js")
    assert status == 200 and "/*perfbudget:sample-rate*/0.5;" in script
    assert "\nperfbudget_beacon_sample_rate 0.5\n" in http("GET", f"{half.url}/metrics")[1]
    with spa_site(half.url) as site, chromium() as browser:
        # Drawn 0.9 >= 0.5: the page view is not sampled, and stays so although every later draw is 0.1.
        visit(browser, f"{site}/checkout/cart", first_random(0.9), click=True)
        # Drawn 0.3 < 0.5: sampled, and every report of it is sent although every later draw is 0.7.
        visit(browser, f"{site}/products/red-shoes", first_random(0.3), click=True)
    product = '{device="desktop",route="/products/:id"}'
    for family in ("perfbudget_ttfb_seconds_count", "perfbudget_fcp_seconds_count", "perfbudget_lcp_seconds_count",
                   "perfbudget_cls_count", "perfbudget_inp_seconds_count"):
        assert wait_for(lambda f=family: counts(half, f) == {product: 1}, 20, what=f"{family} of the sampled view")
    # A beacon cannot claim a rate of its own: a report that says it was sampled at 1 changes nothing.
    status, _ = http("POST", f"{half.url}/api/web-vitals",
                     [beacon("LCP", 1200, "v5-claim", page="http://shop.test/checkout/cart", sampleRate=1)])
    assert status in (200, 204)
    assert "\nperfbudget_beacon_sample_rate 0.5\n" in http("GET", f"{half.url}/metrics")[1]


def test_query_strings_and_fragments_are_cut_unless_kept(served: Server) -> None:
    with collector() as (endpoint, received), spa_site(served.url, f'data-endpoint="{endpoint}"') as site, \
            chromium() as browser:
        visit(browser, f"{site}/products/red-shoes?email=a%40b.example&token=t0k#access_token=x")
        sent = wait_for(lambda: [r for r in reports(received) if r["name"] == "CLS"] and reports(received), 20,
                        what="the CLS report at the collector")
        assert {r["pageUrl"] for r in sent} == {f"{site}/products/red-shoes"}
        assert {r["navigationURL"] for r in sent} == {f"{site}/products/red-shoes"}
        assert all("token" not in str(request.body) and "a%40b" not in str(request.body) for request in received)
    with collector() as (endpoint, received), spa_site(
            served.url, f'data-endpoint="{endpoint}" data-keep-query') as site, chromium() as browser:
        visit(browser, f"{site}/products/red-shoes?color=red#reviews")
        sent = wait_for(lambda: [r for r in reports(received) if r["name"] == "CLS"] and reports(received), 20,
                        what="the CLS report at the collector")
        assert {r["navigationURL"] for r in sent} == {f"{site}/products/red-shoes?color=red#reviews"}


def test_the_fetch_fallback_omits_credentials_unless_asked(served: Server) -> None:
    # sendBeacon refused (as over its quota), so beacon.js falls back to fetch; the browser holds a cookie for
    # the collector's host.
    for attributes, cookie in (("", None), ('data-credentials="include"', "session=s3cret")):
        with collector() as (endpoint, received), spa_site(
                served.url, f'data-endpoint="{endpoint}" {attributes}') as site, chromium() as browser:
            visit(browser, f"{site}/products/red-shoes", NO_BEACON, cookie_host="127.0.0.1")
            wait_for(lambda: [r for r in reports(received) if r["name"] == "CLS"], 20, what="the fetch fallback")
            assert {request.headers.get("cookie") for request in received} == {cookie}, attributes


def test_a_before_send_hook_edits_or_drops_reports(served: Server) -> None:
    hook = ("window.perfbudgetBeforeSend = function (report) { if (report.name === 'CLS') return null; "
            "report.navigationURL = report.navigationURL.replace('/products/red-shoes', '/products/redacted'); "
            "return report; };")
    named = "window.scrub = function (report) { return report.name === 'TTFB' ? report : null; };"
    with collector() as (endpoint, received), chromium() as browser:
        with spa_site(served.url, f'data-endpoint="{endpoint}"') as site:
            visit(browser, f"{site}/products/red-shoes", hook)
            sent = wait_for(lambda: len({r["name"] for r in reports(received)}) >= 3 and reports(received), 20,
                            what="the hooked reports")
            assert "CLS" not in {r["name"] for r in sent}
            assert {r["navigationURL"] for r in sent} == {f"{site}/products/redacted"}
        received.clear()
        with spa_site(served.url, f'data-endpoint="{endpoint}" data-before-send="scrub"') as site:
            visit(browser, f"{site}/products/red-shoes", hook + named)  # the named hook wins over the global one
            wait_for(lambda: reports(received), 20, what="the TTFB report")
            assert {r["name"] for r in reports(received)} == {"TTFB"}
