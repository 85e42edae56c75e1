"""The summary's breakdown of LCP and INP at p75 (summary_breakdown.py): the math, and through the app which
part dominates, what the diagnosis says and which playbook it chooses."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import accumulate
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from perfbudget.subparts import PART_BUCKETS
from perfbudget.summary import quantile
from perfbudget.summary_breakdown import PART_FIXES, breakdown, part_fix, part_key


def _counts(*values: float) -> list[float]:
    """Cumulative bucket counts (+Inf last) of `values` (seconds) on the parts' ladder."""
    per_bucket = [0] * (len(PART_BUCKETS) + 1)
    for value in values:
        per_bucket[next((i for i, edge in enumerate(PART_BUCKETS) if value <= edge), len(PART_BUCKETS))] += 1
    return [float(c) for c in accumulate(per_bucket)]


def test_each_part_is_its_own_p75_its_share_is_of_the_sum_and_the_largest_dominates() -> None:
    counts = {part_key("LCP", "time_to_first_byte"): _counts(0.1, 0.1, 0.2, 0.2),
              part_key("LCP", "resource_load_delay"): _counts(1.0, 1.2, 1.5, 3.0),
              part_key("LCP", "resource_load_duration"): _counts(0.3, 0.3, 0.4, 0.5),
              part_key("LCP", "element_render_delay"): _counts(0.05, 0.05, 0.05, 0.06)}
    got = breakdown("LCP", counts)
    assert got is not None and got["dominant"] == "resource_load_delay" and got["samples"] == 4
    assert got["counts"] == "window" and got["unit"] == "ms"
    p75s = {p["name"]: p["p75"] for p in got["parts"]}
    for part, value in p75s.items():  # each one PromQL's histogram_quantile of its own histogram
        assert value == round(1000 * quantile(0.75, PART_BUCKETS, counts[part_key("LCP", part)]), 1)
    assert [p["name"] for p in got["parts"]] == ["time_to_first_byte", "resource_load_delay",
                                                 "resource_load_duration", "element_render_delay"]
    total = sum(p75s.values())
    assert {p["name"]: p["share"] for p in got["parts"]} == pytest.approx(
        {name: value / total for name, value in p75s.items()}, abs=1e-4)
    assert sum(p["share"] for p in got["parts"]) == pytest.approx(1, abs=1e-3)


def test_no_breakdown_without_parts_and_none_for_other_vitals() -> None:
    assert breakdown("LCP", {}) is None
    assert breakdown("CLS", {part_key("LCP", "time_to_first_byte"): _counts(0.1)}) is None
    only = breakdown("INP", {part_key("INP", "processing_duration"): _counts(0.3)})
    assert only is not None and only["dominant"] == "processing_duration" and len(only["parts"]) == 1


def test_every_part_has_a_fix_and_the_suggestion_carries_its_cause() -> None:
    asked: list[str] = []

    def suggest(vital: str) -> dict[str, Any] | None:
        asked.append(vital)
        return {"playbookId": {"TTFB": "server-response-caching", "LCP": "optimize-images",
                               "FCP": "render-blocking-resources", "INP": "reduce-js-execution"}[vital], "name": "x"}

    parts = {"dominant": "processing_duration", "parts": [{"name": "processing_duration", "share": 0.7}]}
    fix = part_fix("INP", parts, suggest, {"longestScripts": [{"value": "https://shop.test/app.js", "count": 3}]})
    assert fix is not None and fix["playbookId"] == "reduce-js-execution"
    assert fix["cause"] == {"part": "processing_duration", "share": 0.7, "why": PART_FIXES["processing_duration"].why,
                            "action": "audit-scripts", "script": "https://shop.test/app.js"}
    fix = part_fix("LCP", {"dominant": "time_to_first_byte", "parts": [{"name": "time_to_first_byte", "share": 0.5}]},
                   suggest, None)
    assert fix is not None and fix["playbookId"] == "server-response-caching" and asked[-1] == "TTFB"
    # A configuration whose best playbook for that vital is another: it is suggested, without the bundled action.
    other = part_fix("LCP", {"dominant": "resource_load_delay", "parts": [{"name": "resource_load_delay",
                                                                            "share": 0.5}]},
                     lambda vital: {"playbookId": "my-images"}, None)
    assert other is not None and "action" not in other["cause"]
    assert part_fix("LCP", {"dominant": "resource_load_delay", "parts": []}, lambda vital: None, None) is None


# --- through the app: real beacons, the bundled playbooks -------------------------------------------------

BUDGETS = "vitals:\n  - metric: LCP\n    name: lcp-site\n    target: 1750\n    severity: critical\n"


def _lcp(i: int, route: str, ttfb: float, delay: float, duration: float, render: float) -> dict[str, Any]:
    value = ttfb + delay + duration + render
    return {"name": "LCP", "value": value, "id": f"{route}-{i}", "navigationType": "navigate",
            "pageUrl": f"https://shop.test{route}", "device": "desktop",
            "attribution": {"url": "https://shop.test/img/hero.jpg", "target": "img.hero", "timeToFirstByte": ttfb,
                            "resourceLoadDelay": delay, "resourceLoadDuration": duration, "elementRenderDelay": render}}


def _inp(i: int) -> dict[str, Any]:
    return {"name": "INP", "value": 400, "id": f"inp-{i}", "navigationType": "navigate",
            "pageUrl": "https://shop.test/cart", "device": "desktop",
            "attribution": {"interactionTarget": "button.buy", "inputDelay": 20, "processingDuration": 330,
                            "presentationDelay": 50,
                            "longestScript": {"url": "https://shop.test/js/cart.js", "invoker": "BUTTON.onclick",
                                              "subpart": "processing-duration", "intersectingDuration": 300}}}


@pytest.fixture
def shop(make_app: Callable[..., Flask], tmp_path: Path) -> FlaskClient:
    """40 page views per route, each route slow for another reason; INP slow in its handlers."""
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    client = make_app(budgets_file=str(budgets), routes={"patterns": ["/products/:id"]}).test_client()
    causes = {"/cart": (150, 1400, 400, 100), "/checkout": (1600, 200, 300, 100),
              "/products/1": (150, 100, 1500, 200), "/search": (150, 50, 100, 1700)}
    batch = [_lcp(i, route, *parts) for route, parts in causes.items() for i in range(40)]
    batch += [_inp(i) for i in range(40)]
    for start in range(0, len(batch), 20):
        answer = client.post("/api/web-vitals", data=json.dumps(batch[start:start + 20]),
                             headers={"Content-Type": "text/plain", "Origin": "https://shop.test"})
        assert answer.status_code == 200, answer.json
    return client


@pytest.mark.parametrize(("page", "dominant", "playbook", "action"), [
    ("/cart", "resource_load_delay", "optimize-images", "preload-lcp-image"),
    ("/checkout", "time_to_first_byte", "server-response-caching", "edge-caching-and-server-timing"),
    ("/products/1", "resource_load_duration", "optimize-images", "convert-modern-formats"),
    ("/search", "element_render_delay", "render-blocking-resources", "defer-non-critical"),
])
def test_the_dominant_subpart_of_each_route_chooses_its_fix(shop: FlaskClient, page: str, dominant: str,
                                                            playbook: str, action: str) -> None:
    body = shop.get(f"/api/web-vitals?page={page}").json
    lcp = body["metrics"]["LCP"]
    parts = lcp["breakdown"]
    assert parts["dominant"] == dominant and parts["samples"] == 40 and parts["counts"] == "window"
    assert lcp["withinBudget"] is False
    assert lcp["suggestedFix"]["playbookId"] == playbook
    assert lcp["suggestedFix"]["cause"]["part"] == dominant and lcp["suggestedFix"]["cause"]["action"] == action
    vital = body["vitals"][0]
    assert vital["breakdown"] == parts
    label = dominant.replace("_", " ")
    assert f"Its largest subpart is {label} (" in vital["diagnosis"]
    assert vital["suggestedFix"].startswith(f"Preview the {lcp['suggestedFix']['name']} playbook for {label}: ")
    assert f"(its {action} action)" in vital["suggestedFix"]


def test_the_whole_site_breakdown_sums_every_route(shop: FlaskClient) -> None:
    parts = shop.get("/api/web-vitals").json["metrics"]["LCP"]["breakdown"]
    assert parts["samples"] == 160 and len(parts["parts"]) == 4


def test_inp_slow_in_its_handlers_suggests_reduce_js_execution_naming_the_longest_script(shop: FlaskClient) -> None:
    body = shop.get("/api/web-vitals?page=/cart").json
    inp = body["metrics"]["INP"]
    assert inp["breakdown"]["dominant"] == "processing_duration"
    assert [p["name"] for p in inp["breakdown"]["parts"]] == ["input_delay", "processing_duration",
                                                              "presentation_delay"]
    fix = inp["suggestedFix"]
    assert fix["playbookId"] == "reduce-js-execution"
    assert fix["cause"]["script"] == "https://shop.test/js/cart.js"
    sentence = next(v for v in body["vitals"] if v["name"] == "INP")["suggestedFix"]
    assert "the longest script the beacons blame is https://shop.test/js/cart.js" in sentence
    assert "Its largest phase is processing duration" in next(v for v in body["vitals"] if v["name"] == "INP")[
        "diagnosis"]


def test_vitals_without_parts_have_no_breakdown(shop: FlaskClient) -> None:
    metrics = shop.get("/api/web-vitals").json["metrics"]
    assert "breakdown" not in metrics["CLS"] and "breakdown" not in metrics["TTFB"]


def test_a_site_filtered_summary_reads_the_parts_since_start(make_app: Callable[..., Flask]) -> None:
    client = make_app(sites=[{"name": "shop", "hosts": ["shop.test"]}, {"name": "blog", "hosts": ["blog.test"]}]
                      ).test_client()
    batch = [_lcp(i, "/cart", 150, 1400, 400, 100) for i in range(10)]
    answer = client.post("/api/web-vitals", data=json.dumps(batch),
                         headers={"Content-Type": "text/plain", "Origin": "https://shop.test"})
    assert answer.status_code == 200, answer.json
    shop_parts = client.get("/api/web-vitals?site=shop").json["metrics"]["LCP"]["breakdown"]
    assert shop_parts["samples"] == 10 and shop_parts["dominant"] == "resource_load_delay"
    assert shop_parts["counts"].startswith("since the exporter started")
    assert client.get("/api/web-vitals?site=blog").json["metrics"]["LCP"]["breakdown"] is None


def test_a_filter_the_parts_have_no_label_for_gives_no_breakdown(make_app: Callable[..., Flask]) -> None:
    """The parts have no navigation_type (nor version) label: a ?navigation= answer cannot split them."""
    client = make_app(beacons={"navigation_type_label": True}).test_client()
    answer = client.post("/api/web-vitals", data=json.dumps([_lcp(i, "/cart", 150, 1400, 400, 100) for i in range(5)]),
                         headers={"Content-Type": "text/plain", "Origin": "https://shop.test"})
    assert answer.status_code == 200, answer.json
    assert client.get("/api/web-vitals").json["metrics"]["LCP"]["breakdown"]["samples"] == 5
    hard = client.get("/api/web-vitals?navigation=hard").json["metrics"]["LCP"]
    assert hard["samples"] == 5 and hard["breakdown"] is None
