"""LCP subparts and INP phases: which breakdowns are recorded (subparts.split), and what the hot path writes."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest
from flask import Flask
from prometheus_client import CollectorRegistry

from perfbudget.devices import DEVICES
from perfbudget.metrics import SPECIAL_ROUTES, Metrics
from perfbudget.subparts import BREAKDOWNS, PART_BUCKETS, split
from perfbudget.vitals import VITALS, bucket_edges

from .samples import sample

LCP = BREAKDOWNS["LCP"]
INP = BREAKDOWNS["INP"]
PARTS = {"timeToFirstByte": 180.0, "resourceLoadDelay": 1100.0, "resourceLoadDuration": 600.0,
         "elementRenderDelay": 120.0}  # 2000 ms
PHASES = {"inputDelay": 12.0, "processingDuration": 240.0, "presentationDelay": 28.0}  # 280 ms


def test_a_consistent_breakdown_is_split_into_seconds_in_order() -> None:
    assert split(LCP, {"target": "img", **PARTS}, 2.0) == (0.18, 1.1, 0.6, 0.12)
    assert split(INP, PHASES, 0.28) == (0.012, 0.24, 0.028)
    assert split(LCP, {**PARTS, "resourceLoadDelay": 1100}, 2.0) == (0.18, 1.1, 0.6, 0.12)  # ints too


def test_no_breakdown_at_all_is_nothing_to_record_and_nothing_dropped() -> None:
    assert split(LCP, {"target": "h1", "url": "https://shop.test/a.jpg"}, 2.0) is None
    assert split(INP, {}, 0.2) is None


@pytest.mark.parametrize(("attribution", "value", "reason"), [
    ({**PARTS, "elementRenderDelay": None}, 2.0, "missing"),
    ({k: v for k, v in PARTS.items() if k != "timeToFirstByte"}, 2.0, "missing"),
    ({**PARTS, "resourceLoadDelay": "1100"}, 2.0, "not_a_number"),
    ({**PARTS, "resourceLoadDelay": True}, 2.0, "not_a_number"),
    ({**PARTS, "resourceLoadDelay": {"ms": 1}}, 2.0, "not_a_number"),
    ({**PARTS, "resourceLoadDelay": -1.0, "resourceLoadDuration": 1701.0}, 2.0, "out_of_range"),
    ({**PARTS, "resourceLoadDelay": math.nan}, 2.0, "out_of_range"),
    ({**PARTS, "resourceLoadDelay": math.inf}, 2.0, "out_of_range"),
    ({"timeToFirstByte": 0, "resourceLoadDelay": 0, "resourceLoadDuration": 0, "elementRenderDelay": 600_001},
     600.001, "out_of_range"),  # over LCP's sane bound of 600 s
    ({**PARTS, "resourceLoadDelay": 5000.0}, 2.0, "inconsistent"),  # adds up to 5.9 s for an LCP of 2 s
    (PARTS, 4.0, "inconsistent"),  # adds up to half the value
    ({**PHASES, "processingDuration": 1000.0}, 0.28, "inconsistent"),
])
def test_a_malformed_or_inconsistent_breakdown_is_refused_with_its_reason(
        attribution: dict[str, Any], value: float, reason: str) -> None:
    breakdown = LCP if "timeToFirstByte" in attribution or "resourceLoadDelay" in attribution else INP
    assert split(breakdown, attribution, value) == reason


def test_the_tolerance_is_5_percent_and_50_ms_either_way() -> None:
    # 2000 ms of parts: accepted for a value from (2000 - 50) / 1.05 up to (2000 + 50) / 0.95, not beyond.
    assert isinstance(split(LCP, PARTS, 1.858), tuple)  # 2000 - 1858 = 142 <= 92.9 + 50
    assert split(LCP, PARTS, 1.85) == "inconsistent"  # 150 > 92.5 + 50
    assert isinstance(split(LCP, PARTS, 2.15), tuple)  # 150 <= 107.5 + 50
    assert split(LCP, PARTS, 2.2) == "inconsistent"  # 200 > 110 + 50
    # INP's 8 ms grain: phases of 283 ms for an INP of 280 ms are fine.
    assert isinstance(split(INP, {**PHASES, "presentationDelay": 31.0}, 0.28), tuple)


def test_the_bucket_ladder_is_log_spaced_from_5_ms_to_20_s() -> None:
    assert len(PART_BUCKETS) == 18 and PART_BUCKETS[0] == 0.005 and PART_BUCKETS[-1] == 20.0
    ratios = [b / a for a, b in pairwise(PART_BUCKETS)]
    assert all(1.60 < r < 1.66 for r in ratios), ratios


def _post(app: Flask, body: Any) -> None:
    answer = app.test_client().post("/api/web-vitals", data=json.dumps(body),
                                    headers={"Content-Type": "text/plain", "Origin": "https://shop.test"})
    assert answer.status_code == 200, answer.json


def _report(name: str, value: float, metric_id: str, attribution: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "id": metric_id, "navigationType": "navigate",
            "pageUrl": "https://shop.test/cart", "device": "desktop", "attribution": attribution, **extra}


def test_the_parts_are_recorded_with_the_vital_and_once_per_report(
        make_app: Callable[..., Flask], registry: CollectorRegistry) -> None:
    app = make_app()
    batch = [_report("LCP", 2000, "v-1", {"url": "https://shop.test/hero.jpg", **PARTS}),
             _report("INP", 280, "v-1", {"interactionTarget": "button", **PHASES})]
    _post(app, batch)
    _post(app, batch)  # duplicates: not observed again, parts included
    labels = {"route": "/cart", "device": "desktop"}
    assert sample(registry, "perfbudget_lcp_seconds_count", labels) == 1
    for name, seconds in (("resource_load_delay", 1.1), ("time_to_first_byte", 0.18)):
        assert sample(registry, "perfbudget_lcp_subpart_seconds_count", {**labels, "subpart": name}) == 1
        assert sample(registry, "perfbudget_lcp_subpart_seconds_sum", {**labels, "subpart": name}) == \
            pytest.approx(seconds)
    assert sample(registry, "perfbudget_lcp_subpart_seconds_bucket",
                  {**labels, "subpart": "resource_load_delay", "le": "1.07"}) == 0
    assert sample(registry, "perfbudget_lcp_subpart_seconds_bucket",
                  {**labels, "subpart": "resource_load_delay", "le": "1.74"}) == 1
    assert sample(registry, "perfbudget_inp_phase_seconds_sum", {**labels, "phase": "processing_duration"}) == \
        pytest.approx(0.24)
    assert sample(registry, "perfbudget_subparts_dropped_total", {"vital": "LCP", "reason": "inconsistent"}) == 0


def test_a_bad_breakdown_keeps_its_vital_and_is_counted(make_app: Callable[..., Flask],
                                                        registry: CollectorRegistry) -> None:
    app = make_app()
    _post(app, [_report("LCP", 2000, "v-1", {**PARTS, "resourceLoadDelay": 9000}),
                _report("INP", 280, "v-1", {**PHASES, "inputDelay": "slow"}),
                _report("LCP", 2000, "v-2", {"target": "h1"})])  # no breakdown: not a drop
    labels = {"route": "/cart", "device": "desktop"}
    assert sample(registry, "perfbudget_lcp_seconds_count", labels) == 2
    assert sample(registry, "perfbudget_inp_seconds_count", labels) == 1
    assert sample(registry, "perfbudget_subparts_dropped_total", {"vital": "LCP", "reason": "inconsistent"}) == 1
    assert sample(registry, "perfbudget_subparts_dropped_total", {"vital": "INP", "reason": "not_a_number"}) == 1
    assert sample(registry, "perfbudget_subparts_dropped_total", {"vital": "LCP", "reason": "missing"}) == 0
    with pytest.raises(AssertionError, match="no series"):
        sample(registry, "perfbudget_lcp_subpart_seconds_count", {**labels, "subpart": "resource_load_delay"})


def test_with_sites_the_parts_carry_the_site_label(make_app: Callable[..., Flask],
                                                    registry: CollectorRegistry) -> None:
    app = make_app(sites=[{"name": "shop", "hosts": ["shop.test"]}],
                   beacons={"navigation_type_label": True})
    _post(app, [_report("LCP", 2000, "v-1", PARTS)])
    assert sample(registry, "perfbudget_lcp_subpart_seconds_count",
                  {"route": "/cart", "device": "desktop", "site": "shop", "subpart": "element_render_delay"}) == 1


@pytest.mark.parametrize("sites", [0, 2])
def test_every_label_tuple_of_the_parts_has_its_slot_and_no_more(sites: int) -> None:
    metrics = Metrics(CollectorRegistry(), {name: bucket_edges(v) for name, v in VITALS.items()}, max_routes=3,
                      sites=sites)
    try:
        routes = ["/a", "/b", "/c", *SPECIAL_ROUTES]
        site_values = [(f"site-{i}",) for i in range(sites)] + [("other",)] if sites else [()]
        for name, breakdown in BREAKDOWNS.items():
            family = metrics.breakdowns[name]
            for route in routes:
                for device in DEVICES:
                    for site in site_values:
                        for part in breakdown.names:
                            assert family.observer((route, device, *site, part)) is not None, (route, device, site)
            assert family.observer(("/d", "phone", *site_values[0], breakdown.names[0])) is None  # a 4th route
    finally:
        metrics.close()


def test_with_breakdowns_off_no_part_series_appear_and_the_vitals_are_kept(
        make_app: Callable[..., Flask], registry: CollectorRegistry) -> None:
    app = make_app(beacons={"breakdowns": False})
    _post(app, [_report("LCP", 2000, "v-1", {"url": "https://shop.test/hero.jpg", **PARTS}),
                _report("INP", 280, "v-1", {"interactionTarget": "button", **PHASES})])
    labels = {"route": "/cart", "device": "desktop"}
    assert sample(registry, "perfbudget_lcp_seconds_count", labels) == 1
    assert sample(registry, "perfbudget_inp_seconds_count", labels) == 1
    exposition = app.test_client().get("/metrics").get_data(as_text=True)
    assert "perfbudget_lcp_seconds_count{" in exposition
    assert "perfbudget_lcp_subpart_seconds_count{" not in exposition
    assert "perfbudget_inp_phase_seconds_count{" not in exposition
    summary = app.test_client().get("/api/web-vitals").get_json()
    assert summary["metrics"]["LCP"]["samples"] == 1 and summary["metrics"]["LCP"]["breakdown"] is None
