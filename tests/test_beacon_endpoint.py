"""POST /api/web-vitals through the whole app: batches, dedup, CORS, caps, rate limits, metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from .samples import sample

URL = "/api/web-vitals"


def report(name: str = "LCP", value: float = 2300, metric_id: str = "v6-1-1", page: str = "https://shop.test/cart",
           **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "delta": value, "id": metric_id, "rating": "good",
            "navigationType": "navigate", "pageUrl": page, **extra}


def post(client: FlaskClient, body: Any, content_type: str | None = "text/plain;charset=UTF-8",
         **headers: str) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = dict(headers)
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    return client.post(URL, data=data, headers=all_headers)


@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8", "application/json", None])
def test_a_beacon_is_parsed_whatever_its_content_type(
    client: FlaskClient, registry: CollectorRegistry, content_type: str | None
) -> None:
    answer = post(client, report(), content_type)
    assert answer.status_code == 200
    assert answer.json == {"ok": True, "received": 1, "duplicates": 0, "rejected": [], "alerts": []}
    assert sample(registry, "perfbudget_lcp_seconds_count",
                  {"route": "/cart", "device": "unknown"}) == 1
    assert sample(registry, "perfbudget_lcp_seconds_bucket",
                  {"route": "/cart", "device": "unknown", "le": "2.5"}) == 1


def test_bad_reports_in_a_batch_never_drop_the_good_ones(client: FlaskClient, registry: CollectorRegistry) -> None:
    batch = [report(), report(name="FID", metric_id="a"), "junk", report(name="CLS", value=0.3, metric_id="b"),
             report(value=-5, metric_id="c")]
    answer = post(client, batch)
    assert answer.status_code == 200
    body = answer.json
    assert body["received"] == 2
    assert [(r["index"], r["reason"]) for r in body["rejected"]] == [
        (1, "fid_retired"), (2, "not_an_object"), (4, "invalid_value")]
    assert body["rejected"][2]["error"] == "report 4: LCP value -5 must be finite and >= 0"
    assert [(a["metric"], a["value"], a["severity"]) for a in body["alerts"]] == [("CLS", 0.3, "high")]
    assert sample(registry, "perfbudget_reports_accepted_total", {"metric": "LCP"}) == 1
    assert sample(registry, "perfbudget_reports_accepted_total", {"metric": "CLS"}) == 1
    assert sample(registry, "perfbudget_reports_rejected_total", {"reason": "fid_retired"}) == 1
    assert sample(registry, "perfbudget_reports_rejected_total", {"reason": "not_an_object"}) == 1
    assert sample(registry, "perfbudget_reports_rejected_total", {"reason": "invalid_value"}) == 1


def test_a_batch_of_only_bad_reports_is_a_400_listing_each(client: FlaskClient) -> None:
    answer = post(client, [report(name="XYZ"), report(metric_id="")])
    assert answer.status_code == 400
    assert [r["reason"] for r in answer.json["rejected"]] == ["unknown_metric", "missing_id"]


def test_one_value_per_id_and_metric_later_reports_count_as_duplicates(
    client: FlaskClient, registry: CollectorRegistry
) -> None:
    post(client, [report(name="CLS", value=0.05, metric_id="v6-9"), report(name="INP", value=120, metric_id="v6-9")])
    again = post(client, [report(name="CLS", value=0.2, metric_id="v6-9")])
    assert again.status_code == 200
    assert again.json["received"] == 0 and again.json["duplicates"] == 1
    assert sample(registry, "perfbudget_cls_count", {"route": "/cart", "device": "unknown"}) == 1
    assert sample(registry, "perfbudget_cls_sum",
                  {"route": "/cart", "device": "unknown"}) == pytest.approx(0.05)
    assert sample(registry, "perfbudget_reports_duplicate_total", {"metric": "CLS"}) == 1


def test_invalid_json_is_a_400_naming_the_problem(client: FlaskClient, registry: CollectorRegistry) -> None:
    answer = post(client, b'[{"name": "LCP", "value": NaN}]')
    assert answer.status_code == 400
    assert answer.json["error"].startswith("body is not valid JSON")
    assert sample(registry, "perfbudget_reports_rejected_total", {"reason": "invalid_json"}) == 1


def test_a_body_over_the_cap_is_a_413(make_app: Callable[..., Flask], registry: CollectorRegistry) -> None:
    client = make_app(beacons={"max_body_bytes": 2048, "rate_limit": "off"}).test_client()
    answer = post(client, [report(metric_id=f"id-{i}") for i in range(40)])
    assert answer.status_code == 413
    assert answer.json["error"] == "body is over the limit of 2048 bytes"
    assert sample(registry, "perfbudget_reports_rejected_total", {"reason": "body_too_large"}) == 1


def test_a_batch_over_the_cap_is_a_400(make_app: Callable[..., Flask]) -> None:
    client = make_app(beacons={"max_batch": 2, "rate_limit": "off"}).test_client()
    answer = post(client, [report(metric_id=str(i)) for i in range(3)])
    assert answer.status_code == 400
    assert answer.json["error"] == "batch of 3 reports is over the limit of 2"


def test_allowed_origins_are_echoed_with_credentials_and_others_refused(
    make_app: Callable[..., Flask], registry: CollectorRegistry
) -> None:
    client = make_app(beacons={"allowed_origins": ["https://shop.test"], "rate_limit": "off"}).test_client()
    ok = post(client, report(), Origin="https://shop.test")
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.test"
    assert ok.headers["Access-Control-Allow-Credentials"] == "true"
    assert ok.headers["Vary"] == "Origin"
    refused = post(client, report(metric_id="x"), Origin="https://evil.test")
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert sample(registry, "perfbudget_reports_rejected_total", {"reason": "origin_not_allowed"}) == 1
    assert sample(registry, "perfbudget_lcp_seconds_count",
                  {"route": "/cart", "device": "unknown"}) == 1


def test_a_preflight_from_an_allowed_origin_is_answered(make_app: Callable[..., Flask]) -> None:
    client = make_app(beacons={"allowed_origins": ["https://shop.test"], "rate_limit": "off"}).test_client()
    ok = client.options(URL, headers={"Origin": "https://shop.test", "Access-Control-Request-Method": "POST",
                                      "Access-Control-Request-Headers": "content-type"})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.test"
    assert ok.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert ok.headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert client.options(URL, headers={"Origin": "https://evil.test"}).status_code == 403


def test_the_rate_limit_answers_429_with_retry_after(
    make_app: Callable[..., Flask], registry: CollectorRegistry
) -> None:
    client = make_app(beacons={"rate_limit": "3/minute"}).test_client()
    codes = [post(client, report(metric_id=str(i))).status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    limited = post(client, report(metric_id="z"))
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert sample(registry, "perfbudget_reports_rejected_total", {"reason": "rate_limited"}) == 3
    # Another client address has its own allowance.
    other = client.post(URL, data=json.dumps(report(metric_id="y")), environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200


def test_device_and_route_come_from_the_report_and_the_request(
    client: FlaskClient, registry: CollectorRegistry
) -> None:
    post(client, report(metric_id="a", page="https://shop.test/orders/123?x=1", device="tablet"))
    post(client, report(metric_id="b", page="https://shop.test/orders/456"),
         **{"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                          "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"})
    assert sample(registry, "perfbudget_lcp_seconds_count",
                  {"route": "/orders/:id", "device": "tablet"}) == 1
    assert sample(registry, "perfbudget_lcp_seconds_count",
                  {"route": "/orders/:id", "device": "phone"}) == 1


def test_route_overflow_is_counted(make_app: Callable[..., Flask], registry: CollectorRegistry) -> None:
    client = make_app(routes={"max_routes": 2}).test_client()
    post(client, [report(metric_id=str(i), page=f"/p{chr(97 + i)}") for i in range(4)])
    assert sample(registry, "perfbudget_lcp_seconds_count",
                  {"route": "other", "device": "unknown"}) == 2
    assert sample(registry, "perfbudget_route_overflow_total") == 2


def test_navigation_type_label_only_when_configured(
    make_app: Callable[..., Flask], registry: CollectorRegistry
) -> None:
    client = make_app(beacons={"navigation_type_label": True, "rate_limit": "off"}).test_client()
    post(client, [report(metric_id="a"), report(metric_id="b", navigationType="made-up")])
    labels = {"route": "/cart", "device": "unknown"}
    assert sample(registry, "perfbudget_lcp_seconds_count",
                  {**labels, "navigation_type": "navigate"}) == 1
    assert sample(registry, "perfbudget_lcp_seconds_count",
                  {**labels, "navigation_type": "unknown"}) == 1


def test_other_methods_and_paths_fall_through_to_flask(client: FlaskClient) -> None:
    assert client.put(URL).status_code == 405
    assert client.get("/-/healthy").status_code == 200


def test_metrics_are_served_in_both_exposition_formats(client: FlaskClient) -> None:
    post(client, report())
    text = client.get("/metrics")
    assert text.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'perfbudget_lcp_seconds_bucket{device="unknown",le="2.5",route="/cart"} 1.0' in text.text
    om = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    assert om.text.rstrip().endswith("# EOF")


def test_beacon_js_is_served_as_javascript(client: FlaskClient) -> None:
    answer = client.get("/beacon.js")
    assert answer.status_code == 200
    assert answer.mimetype == "text/javascript"
    assert b"sendBeacon" in answer.data and b"webVitals" in answer.data


ALERT_FIELDS = {"metric": str, "value": (int, float), "severity": str, "action": str}


def test_alerts_are_the_contracts_objects_with_severity_from_the_rating_and_the_budget(client: FlaskClient) -> None:
    # The bundled budgets: LCP 2500 ms everywhere (critical), 2000 ms on /products/.* phones (warning).
    batch = [
        report(value=3245, metric_id="a", page="https://shop.test/inventory"),                # needs-improvement
        report(value=4600, metric_id="b", page="https://shop.test/inventory"),                # poor
        report(value=2300, metric_id="c", page="https://shop.test/products/7", device="phone"),  # good, over 2000
        report(value=2300, metric_id="d", page="https://shop.test/products/7", device="desktop"),  # good, within
        report(value=1500, metric_id="e", page="https://shop.test/products/7", device="phone"),  # good, within
    ]
    alerts = post(client, batch).json["alerts"]
    for alert in alerts:
        for name, kind in ALERT_FIELDS.items():
            assert isinstance(alert[name], kind), (name, alert)
    assert [(a["metric"], a["value"], a["severity"], a["route"], a.get("budget")) for a in alerts] == [
        ("LCP", 3245, "medium", "/inventory", {"name": "lcp", "target": 2500, "severity": "critical"}),
        ("LCP", 4600, "high", "/inventory", {"name": "lcp", "target": 2500, "severity": "critical"}),
        ("LCP", 2300, "low", "/products/:id", {"name": "lcp-products-phone", "target": 2000, "severity": "warning"}),
    ]
    assert alerts[0]["action"].startswith("Monitor for further degradation")
    assert all('"playbookId": "optimize-images"' in a["action"] for a in alerts)
