"""Forged LCP reports never put their host in a preload hint (issue 11, point 5), through the real server.

Thirty beacons with a forged `Origin` (trivial outside a browser) report the LCP image as
`https://evil.example/img/hero.jpg`, a path the site has. The `optimize-images` dry run's preload preview
used to write `<link rel="preload" href="https://evil.example/img/hero.jpg">`; now it writes the site's own
path, `/img/hero.jpg`, and a forged host whose path the site lacks gets no hint at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ..actions.conftest import photo
from .stack import Server, beacon, dry_run, exporter, http, wait_for

pytestmark = pytest.mark.integration

SITE_ORIGIN = "https://shop.example"
FORGED = "https://evil.example/img/hero.jpg"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("forged")
    site = tmp / "site"
    (site / "img").mkdir(parents=True)
    photo(1600, 1000, 1).save(site / "img" / "hero.jpg", "JPEG", quality=92)
    config = {"actions": {"allowed_dirs": [str(site)]}, "beacons": {"allowed_origins": [SITE_ORIGIN]}}
    with exporter(tmp, workers=2, config=config) as srv:
        yield srv


def _forge(srv: Server, url: str, count: int, prefix: str) -> None:
    for i in range(count):
        report = beacon("LCP", 3900 + i, f"v5-{prefix}-{i}", page=f"{SITE_ORIGIN}/", attribution={"url": url})
        status, body = http("POST", f"{srv.url}/api/web-vitals", [report], {"Origin": SITE_ORIGIN})
        assert status == 200 and body["received"] == 1, body


def _lcp_resources(srv: Server) -> dict[str, int]:
    status, body = http("GET", f"{srv.url}/api/web-vitals?page=/")
    assert status == 200, body
    return {r["value"]: r["count"] for r in body["metrics"]["LCP"]["diagnosis"]["lcpResources"]}


def _preload_preview(srv: Server) -> dict[str, Any]:
    run = dry_run(srv, "optimize-images")
    assert run["state"] == "succeeded", run
    preload = next(a for a in run["actions"] if a["kind"] == "preload")
    assert preload["status"] == "previewed", preload
    preview: dict[str, Any] = preload["preview"]
    return preview


def test_thirty_forged_reports_get_a_hint_for_the_sites_own_path_only(server: Server) -> None:
    _forge(server, FORGED, 30, "forged")
    # Workers share attribution through files written every few seconds: wait until all thirty are merged.
    wait_for(lambda: _lcp_resources(server).get(FORGED) == 30, 30, what="the thirty forged reports merged")
    preview = _preload_preview(server)
    (route,) = preview["changes"]
    assert [h["link"] for h in route["hints"]] == [
        '<link rel="preload" as="image" href="/img/hero.jpg" fetchpriority="high">'
    ]
    assert route["hints"][0]["reports"] == 30
    assert "evil.example" not in preview["summary"]


def test_a_forged_host_for_a_path_the_site_lacks_gets_no_hint(server: Server) -> None:
    missing = "https://evil.example/img/tracker.jpg"
    _forge(server, missing, 100, "missing")  # the top LCP "image" by far, and the hero still over 10%
    wait_for(lambda: _lcp_resources(server).get(missing) == 100, 30, what="the forged reports merged")
    preview = _preload_preview(server)
    (route,) = preview["changes"]
    links = [h["link"] for h in route["hints"]]
    assert links == ['<link rel="preload" as="image" href="/img/hero.jpg" fetchpriority="high">']
    assert {"url": missing, "reports": 100, "reason": "not a file of the site"} in route["refused"]
    assert all("evil.example" not in link for link in links)
