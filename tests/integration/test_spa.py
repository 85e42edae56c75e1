"""Single-page apps in a real Chromium with the real web-vitals library and our beacon.js, into a real
`perfbudget serve`: a metric is counted for the navigation it belongs to (web-vitals' navigationURL), not for
the route the page shows when the batch leaves; with data-soft-navs each soft navigation reports on its own
(navigation_type "soft-navigation"); and a page view that saw an interaction but no INP is counted.

Soft navigations: Debian's Chromium 156 exposes the Soft Navigations API (the `soft-navigation` entry type and
PerformanceSoftNavigation.getLargestInteractionContentfulPaint, which web-vitals 6 requires) with no flag;
Chrome 139 to 149 needed the origin trial or --enable-features=SoftNavigationHeuristics (or
--enable-experimental-web-platform-features). The soft-navigation test checks the API is there first and
says which flag to add when it is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser import chromium
from .site_spa import spa_site
from .stack import Server, exporter, http, wait_for

pytestmark = pytest.mark.integration
CONFIG = {"routes": {"patterns": ["/products/:id", "/checkout/cart"]},
          "beacons": {"navigation_type_label": True}}
PRODUCT = 'device="desktop",navigation_type="{nav}",route="/products/:id"'
CART = 'device="desktop",navigation_type="{nav}",route="/checkout/cart"'
SOFT_NAV_API = ("PerformanceObserver.supportedEntryTypes.includes('soft-navigation') && "
                "typeof PerformanceSoftNavigation === 'function' && "
                "typeof PerformanceSoftNavigation.prototype.getLargestInteractionContentfulPaint === 'function'")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    with exporter(tmp_path, workers=1, config=CONFIG) as srv:
        yield srv


def samples(srv: Server, name: str) -> dict[str, float]:
    """{'label="value",...': value} of one family's samples in /metrics."""
    _, text = http("GET", f"{srv.url}/metrics")
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            out[labels[len(name) + 1:-1]] = float(value)
    return out


def arrived(srv: Server, name: str, labels: str, count: float = 1) -> dict[str, float]:
    return wait_for(lambda: (found := samples(srv, name)) and found.get(labels) == count and found, 20,
                    what=f"{name}{{{labels}}} = {count}")


def leave(page: Any) -> None:
    """Navigate away: the page hides, web-vitals reports and beacon.js sends its batch."""
    page.goto("about:blank")
    page.close()


def test_a_layout_shift_after_a_push_state_route_change_counts_for_the_page_load(served: Server) -> None:
    # Without soft navigations every metric of the page view belongs to its one (hard) navigation: the shift on
    # /checkout/cart, reached by history.pushState, is the product page load's, as its navigationURL says.
    with spa_site(served.url) as site, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{site}/products/red-shoes?ref=mail", wait_until="load")
        page.click("#to-cart")
        page.wait_for_function("location.pathname === '/checkout/cart'")
        page.wait_for_timeout(700)  # a shift within 500 ms of an input is not counted by CLS
        page.evaluate("shift(120)")
        page.wait_for_timeout(300)
        leave(page)
    cls = arrived(served, "perfbudget_cls_count", PRODUCT.format(nav="navigate"))
    assert not [labels for labels in cls if "/checkout/cart" in labels], cls
    assert samples(served, "perfbudget_cls_sum")[PRODUCT.format(nav="navigate")] > 0.01, "the shift is counted"
    for family in ("perfbudget_lcp_seconds_count", "perfbudget_fcp_seconds_count"):
        assert list(samples(served, family)) == [PRODUCT.format(nav="navigate")], family


def test_with_soft_navigations_a_shift_counts_for_the_soft_navigation_s_route(served: Server) -> None:
    with spa_site(served.url, "data-soft-navs") as site, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{site}/products/red-shoes", wait_until="load")
        assert page.evaluate(SOFT_NAV_API), (
            "this Chromium does not expose the Soft Navigations API web-vitals needs: launch it with "
            "--enable-features=SoftNavigationHeuristics (or --enable-experimental-web-platform-features)")
        page.wait_for_timeout(700)
        page.evaluate("shift(40)")  # on the product page
        page.wait_for_timeout(300)
        page.click("#to-cart")  # a real click, a pushState and new content: a soft navigation
        page.wait_for_function("performance.getEntriesByType('soft-navigation').length === 1")
        page.wait_for_timeout(700)
        page.evaluate("shift(160)")  # on the cart
        page.wait_for_timeout(300)
        leave(page)
    soft = CART.format(nav="soft-navigation")
    hard = PRODUCT.format(nav="navigate")
    cls = arrived(served, "perfbudget_cls_count", soft)
    assert cls == {hard: 1, soft: 1}, cls
    sums = samples(served, "perfbudget_cls_sum")
    assert 0 < sums[hard] < sums[soft], f"each shift counted for its own navigation: {sums}"
    lcp = arrived(served, "perfbudget_lcp_seconds_count", soft)  # the soft navigation's own contentful paint
    assert lcp == {hard: 1, soft: 1}, lcp


def test_a_quick_leave_after_a_slow_click_still_reports_inp(served: Server) -> None:
    # web-vitals handles the click's entries in an idle callback, which headless Chromium runs only at its 1 s
    # timeout: leaving 0.3 s after the click, the library's default loses INP (benchmarks/inp_leave.py);
    # beacon.js follows INP with reportAllChanges and sends the value settled during the hide.
    with spa_site(served.url) as site, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{site}/products/red-shoes", wait_until="load")
        page.wait_for_timeout(300)
        page.click("#slow")
        page.wait_for_function("document.getElementById('status').textContent === 'paid'")
        page.wait_for_timeout(300)
        leave(page)
    inp = arrived(served, "perfbudget_inp_seconds_count", PRODUCT.format(nav="navigate"))
    assert inp == {PRODUCT.format(nav="navigate"): 1}
    assert samples(served, "perfbudget_inp_seconds_sum")[PRODUCT.format(nav="navigate")] >= 0.1
    assert not samples(served, "perfbudget_inp_missing_total")


def test_a_page_view_with_an_interaction_and_no_inp_is_counted_as_missing_inp(served: Server) -> None:
    # A browser whose Event Timing has no interactionId (so web-vitals cannot measure INP) but that counts
    # interactions: the click gives no INP, and beacon.js says so on the batch of the hide.
    with spa_site(served.url) as site, chromium() as browser:
        context = browser.new_context()
        context.add_init_script("delete PerformanceEventTiming.prototype.interactionId;")
        quiet = context.new_page()  # a page view without any interaction: nothing is missing
        quiet.goto(f"{site}/checkout/cart", wait_until="load")
        quiet.wait_for_timeout(300)
        leave(quiet)
        page = context.new_page()
        page.goto(f"{site}/products/red-shoes", wait_until="load")
        page.wait_for_timeout(300)
        page.click("#slow")
        page.wait_for_function("document.getElementById('status').textContent === 'paid' && "
                               "performance.interactionCount > 0")
        page.wait_for_timeout(1500)
        leave(page)
        context.close()
    assert wait_for(lambda: samples(served, "perfbudget_inp_missing_total") == {'route="/products/:id"': 1}, 20,
                    what="one page view missing INP on /products/:id")
    arrived(served, "perfbudget_cls_count", CART.format(nav="navigate"))  # the quiet page view arrived too
    assert samples(served, "perfbudget_inp_missing_total") == {'route="/products/:id"': 1}
    assert not samples(served, "perfbudget_inp_seconds_count")
