"""A real Chromium, the real web-vitals library and our beacon.js, reporting into a real `perfbudget serve`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from .browser import chromium, demo_site, visit_and_leave
from .stack import Server, exporter, http, wait_for

pytestmark = pytest.mark.integration
HERO_DELAY = 1.2


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("browser")
    with exporter(tmp, config={"routes": {"patterns": ["/products/:id"]}}) as srv:
        yield srv


def _samples(metrics_text: str, name: str) -> dict[str, float]:
    out = {}
    for line in metrics_text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            out[labels[len(name):]] = float(value)
    return out


def test_a_page_view_reports_lcp_fcp_ttfb_and_inp_with_its_route(served: Server) -> None:
    with demo_site(served.url, HERO_DELAY) as site, chromium() as browser:
        visit_and_leave(browser, f"{site}/products/42?ref=mail")

    def arrived() -> str | None:
        _, text = http("GET", f"{served.url}/metrics")
        counts = {vital: _samples(text, f"perfbudget_{vital}_count") for vital in ("lcp_seconds", "fcp_seconds",
                                                                                  "ttfb_seconds", "inp_seconds")}
        return text if all(counts.values()) else None

    text = wait_for(arrived, 20, what="LCP, FCP, TTFB and INP in /metrics")
    labels = '{device="desktop",route="/products/:id"}'
    for vital in ("lcp_seconds", "fcp_seconds", "ttfb_seconds", "inp_seconds"):
        assert _samples(text, f"perfbudget_{vital}_count") == {labels: 1.0}, vital
    lcp = _samples(text, "perfbudget_lcp_seconds_sum")[labels]
    fcp = _samples(text, "perfbudget_fcp_seconds_sum")[labels]
    ttfb = _samples(text, "perfbudget_ttfb_seconds_sum")[labels]
    inp = _samples(text, "perfbudget_inp_seconds_sum")[labels]
    assert HERO_DELAY < lcp < HERO_DELAY + 5, "LCP must come after the slow hero image"
    assert 0 < ttfb <= fcp < lcp
    assert 0.1 <= inp < 2, "the click handler blocks for 150 ms"
    assert not re.search(r'perfbudget_reports_rejected_total\{reason="[a-z_]+"\} [1-9]', text)


def test_the_lcp_attribution_names_the_hero_image(served: Server) -> None:
    def diagnosed() -> dict[str, object] | None:
        status, body = http("GET", f"{served.url}/api/web-vitals?page=/products/42")
        assert status == 200
        # Workers share attribution through files written every few seconds: poll until it is there.
        return body if body["metrics"]["LCP"]["diagnosis"]["lcpResources"] else None

    body = wait_for(diagnosed, 20, what="LCP attribution in the summary")
    resources = body["metrics"]["LCP"]["diagnosis"]["lcpResources"]
    assert resources and resources[0]["value"].endswith("/img/hero.jpg")
    assert body["page"] == "/products/:id"
    assert body["metrics"]["LCP"]["samples"] == 1
