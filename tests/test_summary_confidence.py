"""GET /api/web-vitals through the whole app: a p75 of few page loads says it is low-confidence and its bucket."""

from __future__ import annotations

import json

from flask.testing import FlaskClient


def _beacon(client: FlaskClient, value: float, metric_id: str, page: str = "https://shop.test/cart") -> None:
    body = {"name": "LCP", "value": value, "delta": value, "id": metric_id, "rating": "poor",
            "navigationType": "navigate", "pageUrl": page}
    answer = client.post("/api/web-vitals", data=json.dumps(body), headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200, answer.json


def test_one_lcp_of_3245_ms_reads_as_its_bucket_and_one_sample(client: FlaskClient) -> None:
    _beacon(client, 3245, "v6-1-1")
    lcp = client.get("/api/web-vitals").json["metrics"]["LCP"]
    assert lcp["samples"] == 1
    assert (lcp["confidence"], lcp["minSamples"]) == ("low", 50)  # the bundled LCP budget's min_samples
    assert lcp["range"] == [2920.0, 3420.0]
    assert lcp["rangeText"] == "2.92-3.42 s, 1 sample"
    assert 2920.0 < lcp["value"] <= 3420.0  # was 3750 ms, interpolated in the old (3, 4] s bucket
    assert lcp["rating"] == "needs-improvement" and lcp["unit"] == "ms"


def test_enough_page_loads_are_high_confidence(client: FlaskClient) -> None:
    for i in range(50):
        _beacon(client, 2100, f"v6-2-{i}")
    lcp = client.get("/api/web-vitals").json["metrics"]["LCP"]
    assert (lcp["samples"], lcp["confidence"]) == (50, "high")
    assert lcp["value"] == 2105.0  # 50 loads of 2100 ms in (2.0, 2.14] s: 2.0 + 0.75 x 0.14; was 2375 ms
    assert lcp["rangeText"] == "2.0-2.14 s, 50 samples"
