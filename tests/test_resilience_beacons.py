"""The beacon endpoint under hostile input: fuzzing, a cardinality attack, memory that stays flat."""

from __future__ import annotations

import gc
import json
import resource
from collections.abc import Callable
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

URL = "/api/web-vitals"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
metric_like = st.fixed_dictionaries(
    {"name": st.sampled_from(["LCP", "INP", "CLS", "FCP", "TTFB", "FID", "XYZ", ""]) | json_values,
     "value": st.floats(allow_nan=False, allow_infinity=False) | st.integers() | json_values,
     "id": st.text(max_size=200) | json_values},
    optional={"pageUrl": st.text(max_size=300) | json_values, "attribution": json_values,
              "device": st.text(max_size=10), "navigationType": json_values},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=2048), json_values.map(lambda v: json.dumps(v).encode()),
                      st.lists(metric_like, max_size=40).map(lambda v: json.dumps(v).encode())))
def test_no_body_gets_a_5xx_or_an_exception(app: Flask, body: bytes) -> None:
    answer = app.test_client().post(URL, data=body, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert answer.status_code in (200, 400, 413), answer.data
    payload = answer.json
    assert payload is not None and isinstance(payload["ok"], bool)
    if answer.status_code == 200:
        assert payload["received"] + payload["duplicates"] >= 1


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_a_cardinality_attack_stays_at_the_caps_with_flat_memory(
    make_app: Callable[..., Flask], registry: CollectorRegistry
) -> None:
    client = make_app(routes={"max_routes": 50}).test_client()

    def attack(start: int, count: int) -> None:
        for i in range(start, start + count):
            body: list[dict[str, Any]] = [{"name": "LCP", "value": 1000 + i % 3000, "id": f"atk-{i}",
                                           "pageUrl": f"https://shop.test/{i:x}/page-{i % 997}?q={i}"}]
            ua = f"Mozilla/5.0 (Linux; Android 14; Model-{i}) AppleWebKit/537.36 Chrome/{i % 200}.0 Mobile"
            assert client.post(URL, data=json.dumps(body), headers={"User-Agent": ua}).status_code == 200

    attack(0, 20_000)
    gc.collect()
    before = _rss_kib()
    attack(20_000, 80_000)
    gc.collect()
    after = _rss_kib()
    series = {s.labels["route"] + "|" + s.labels["device"]
              for family in registry.collect() if family.name == "perfbudget_lcp_seconds"
              for s in family.samples if s.name.endswith("_count")}
    routes = {key.split("|")[0] for key in series}
    assert len(routes - {"other"}) <= 50
    assert "other" in routes
    assert len(series) <= 51 * 4
    overflow = registry.get_sample_value("perfbudget_route_overflow_total")
    assert overflow is not None and overflow > 90_000
    # 80,000 more distinct URLs and user agents: caches are bounded, so memory does not follow them.
    assert after - before < 20 * 1024, f"RSS grew by {after - before} KiB"
