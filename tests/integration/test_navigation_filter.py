"""`GET /api/web-vitals?navigation=soft|hard` against a real `perfbudget serve` (2 workers) with the
navigation_type label on: a single-page app's soft navigations (web-vitals' reportSoftNavs) are summarised
apart from its document loads, and a request the exporter cannot answer says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .stack import Server, beacon, exporter, http

pytestmark = pytest.mark.integration
PAGE = "http://shop.test/products/42"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = {"beacons": {"navigation_type_label": True}, "routes": {"patterns": ["/products/:id"]}}
    with exporter(tmp_path_factory.mktemp("navigation"), workers=2, config=config) as srv:
        reports = ([beacon("LCP", 3600, f"soft-{i}", page=PAGE, navigationType="soft-navigation") for i in range(4)]
                   + [beacon("LCP", 1100, f"hard-{i}", page=PAGE) for i in range(6)]
                   + [beacon("LCP", 1300, f"reload-{i}", page=PAGE, navigationType="reload") for i in range(2)])
        for start in range(0, len(reports), 4):  # spread over requests, so both workers take some
            assert http("POST", f"{srv.url}/api/web-vitals", reports[start:start + 4])[0] == 200
        yield srv


def lcp(srv: Server, query: str) -> dict[str, object]:
    status, answer = http("GET", f"{srv.url}/api/web-vitals?page={PAGE}{query}")
    assert status == 200, answer
    return dict(answer["metrics"]["LCP"], filter=answer.get("filter"))


def test_soft_and_hard_navigations_are_summarised_apart(served: Server) -> None:
    every, soft, hard = lcp(served, ""), lcp(served, "&navigation=soft"), lcp(served, "&navigation=hard")
    assert (every["samples"], soft["samples"], hard["samples"]) == (12, 4, 8)
    assert soft["value"] > 2500 >= hard["value"]  # the soft navigations alone are poor; the loads are good
    assert soft["filter"]["navigation"] == "soft" and every["filter"] is None


@pytest.mark.parametrize(("query", "message"), [
    ("navigation=spa", "navigation: 'spa' is not one of soft, hard"),
    ("navigation=", "navigation: '' is not one of soft, hard"),
])
def test_an_unknown_navigation_is_a_400(served: Server, query: str, message: str) -> None:
    status, answer = http("GET", f"{served.url}/api/web-vitals?{query}")
    assert status == 400 and answer["error"] == message


def test_without_the_label_the_filter_is_refused(tmp_path: Path) -> None:
    with exporter(tmp_path, workers=1) as srv:
        status, answer = http("GET", f"{srv.url}/api/web-vitals?navigation=soft")
    assert status == 400
    assert answer["error"].startswith("navigation: the navigation_type label is off "
                                      "(beacons.navigation_type_label: true turns it on)")
