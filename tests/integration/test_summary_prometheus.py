"""GET /api/web-vitals agrees with what PromQL's histogram_quantile says over the same data."""

from __future__ import annotations

import bisect
import random
import re
from collections.abc import Iterator

import pytest

from perfbudget.vitals import VITALS

from .stack import Server, beacon, exporter, http, prom_query, prometheus, wait_for

pytestmark = pytest.mark.integration
SENT = 300


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    tmp = tmp_path_factory.mktemp("summary")
    with exporter(tmp / "exporter", workers=2, config={"routes": {"patterns": ["/products/:id"]}}) as exp:
        rng = random.Random(42)
        for i in range(SENT):
            page = "http://shop.test/products/1" if i % 3 else "http://shop.test/checkout"
            batch = [
                beacon("LCP", rng.lognormvariate(7.8, 0.5), f"p{i}", page=page),
                beacon("INP", rng.lognormvariate(5.0, 0.6), f"p{i}", page=page),
                beacon("CLS", rng.lognormvariate(-2.8, 0.8), f"p{i}", page=page),
                beacon("FCP", rng.lognormvariate(7.2, 0.4), f"p{i}", page=page),
                beacon("TTFB", rng.lognormvariate(6.0, 0.5), f"p{i}", page=page),
            ]
            assert http("POST", f"{exp.url}/api/web-vitals", batch)[0] == 200
        with prometheus(tmp / "prometheus", [f"127.0.0.1:{exp.port}"]) as prom:
            wait_for(lambda: prom_query(prom, "sum(perfbudget_lcp_seconds_count)")["result"]
                     and float(prom_query(prom, "sum(perfbudget_lcp_seconds_count)")["result"][0]["value"][1])
                     == SENT, 30, what="Prometheus to scrape every beacon")
            yield exp, prom


def _served_edges(exp: Server, metric: str) -> tuple[float, ...]:
    """The bucket edges the exporter serves (thresholds and the bundled budgets' targets)."""
    _, text = http("GET", f"{exp.url}/metrics")
    found = set(re.findall(rf'{metric}_bucket{{[^}}]*le="([^"]+)"', text))
    return tuple(sorted(float(le) for le in found if le != "+Inf"))


def _bucket(edges: tuple[float, ...], value: float) -> int:
    return bisect.bisect_left(edges, value)


@pytest.mark.parametrize("name", list(VITALS))
@pytest.mark.parametrize("route", [None, "/products/:id", "/checkout"])
def test_p75_is_within_one_bucket_of_histogram_quantile(stack: tuple[Server, Server], name: str,
                                                        route: str | None) -> None:
    exp, prom = stack
    vital = VITALS[name]
    selector = f'{{route="{route}"}}' if route else ""
    result = prom_query(prom, f"histogram_quantile(0.75, sum by (le) ({vital.metric}_bucket{selector}))")["result"]
    promql = float(result[0]["value"][1])
    query = f"?window=1h&page={route}" if route else "?window=1h"
    status, body = http("GET", f"{exp.url}/api/web-vitals{query}")
    assert status == 200
    ours = vital.to_base(body["metrics"][name]["value"])
    edges = _served_edges(exp, vital.metric)
    assert abs(_bucket(edges, ours) - _bucket(edges, promql)) <= 1, (ours, promql)
    assert ours == pytest.approx(promql, rel=0.02)


def test_good_share_is_exact_against_the_threshold_bucket(stack: tuple[Server, Server]) -> None:
    exp, prom = stack
    good = prom_query(prom, 'sum(perfbudget_lcp_seconds_bucket{le="2.5"}) / sum(perfbudget_lcp_seconds_count)')
    _, body = http("GET", f"{exp.url}/api/web-vitals?window=1h")
    assert body["metrics"]["LCP"]["goodShare"] == pytest.approx(float(good["result"][0]["value"][1]), abs=1e-4)
    assert body["metrics"]["LCP"]["samples"] == SENT
    assert 0 <= body["overallScore"] <= 100
