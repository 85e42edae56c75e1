"""beacon.js's data-site and data-version in a real Chromium with the real web-vitals library, into a real
`perfbudget serve` with sites and releases configured: the attributes reach the labels, and the exporter (not
the page) decides which values exist: an unknown site goes by the page's host, an unknown version is `other`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .browser import chromium
from .site_spa import spa_site
from .stack import Server, exporter, http, wait_for

pytestmark = pytest.mark.integration
CONFIG = {
    "routes": {"patterns": ["/products/:id", "/checkout/cart"]},
    # The test site is served from 127.0.0.1, which is the shop's host; blog.test is never visited.
    "sites": [{"name": "shop", "hosts": ["127.0.0.1"]}, {"name": "blog", "hosts": ["blog.test"]}],
    "beacons": {"allowed_origins": ["*"]},
    "releases": {"versions": ["2026.12.1"]},
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with exporter(tmp_path_factory.mktemp("labels"), workers=1, config=CONFIG) as srv:
        yield srv


def lcp_counts(srv: Server) -> dict[tuple[str, str], float]:
    """perfbudget_lcp_seconds_count per (site, version)."""
    _, text = http("GET", f"{srv.url}/metrics")
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "perfbudget_lcp_seconds_count" and s.value:
                key = (s.labels["site"], s.labels["version"])
                out[key] = out.get(key, 0) + s.value
    return out


def visit(browser: Any, url: str) -> None:
    page = browser.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_timeout(500)
    page.click("#slow")  # an input ends LCP observation, so LCP is reported at the hide
    page.wait_for_timeout(300)
    page.goto("about:blank")
    page.wait_for_timeout(300)
    page.close()


def test_data_site_and_data_version_become_labels_the_exporter_allows(served: Server) -> None:
    with chromium() as browser:
        with spa_site(served.url, 'data-site="blog" data-version="2026.12.1"') as site:
            visit(browser, f"{site}/products/red-shoes")
        assert wait_for(lambda: lcp_counts(served) == {("blog", "2026.12.1"): 1}, 20,
                        what="the LCP of a page naming site blog and a known version")
        # A site or a version the exporter does not have is `other`, counted with its reason: a page cannot
        # make up label values.
        with spa_site(served.url, 'data-site="nosuch" data-version="9.9.9-evil"') as site:
            visit(browser, f"{site}/checkout/cart")
        assert wait_for(lambda: lcp_counts(served) == {("blog", "2026.12.1"): 1, ("other", "other"): 1}, 20,
                        what="the LCP of a page naming an unknown site and version")
    _, text = http("GET", f"{served.url}/metrics")
    reported = sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
                   if s.name.endswith("_count") and s.labels.get("version") == "other")
    assert reported >= 3  # TTFB, FCP, LCP at least (CLS and INP too when the page had them)
    assert f'perfbudget_version_other_total{{reason="unknown_version"}} {reported}' in text
    assert f'perfbudget_site_other_total{{reason="unknown_site_field"}} {reported}' in text
