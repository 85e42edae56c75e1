"""Abuse of the beacon endpoint, one attack per case: each gets a precise 4xx, never a 5xx, and the good
reports beside a bad one are still kept."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

URL = "/api/web-vitals"
PLAIN = {"Content-Type": "text/plain;charset=UTF-8"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * 30_000 + b"]" * 30_000, "body is not valid JSON"),  # nesting far past any parser's stack
        (b'{"name":"LCP","value":NaN,"id":"a"}', "body is not valid JSON"),
        (b'{"name":"LCP","value":Infinity,"id":"a"}', "body is not valid JSON"),
        (b'{"name":"LCP","value":-Infinity,"id":"a"}', "body is not valid JSON"),
        (b'{"name":"LCP","value":1,"id":"\xff\xfe"}', "body is not valid JSON"),  # invalid UTF-8
        (b"\x00\x01\x02", "body is not valid JSON"),
        (b"", "body is not valid JSON"),
    ],
    ids=["deep-nesting", "nan", "infinity", "minus-infinity", "invalid-utf8", "binary", "empty"],
)
def test_hostile_bodies_are_a_400_invalid_json(client: FlaskClient, registry: CollectorRegistry,
                                               body: bytes, error: str) -> None:
    answer = client.post(URL, data=body, headers=PLAIN)
    assert answer.status_code == 400
    assert answer.json is not None and answer.json["ok"] is False
    assert error in answer.json["error"]
    assert registry.get_sample_value("perfbudget_reports_rejected_total", {"reason": "invalid_json"}) == 1


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"name": "LCP", "value": "1200", "id": "s"}, "invalid_value"),
        ({"name": "LCP", "value": True, "id": "b"}, "invalid_value"),
        ({"name": "LCP", "value": [1200], "id": "l"}, "invalid_value"),
        ({"name": 7, "value": 1200, "id": "n"}, "unknown_metric"),
        ({"name": "LCP", "value": 1200, "id": {"x": 1}}, "missing_id"),
        ({"name": "LCP", "value": 1e300, "id": "h"}, "value_out_of_range"),
        ({"name": "CLS", "value": -0.1, "id": "neg"}, "invalid_value"),
        ("LCP=1200", "not_an_object"),
    ],
    ids=["string-value", "bool-value", "list-value", "number-name", "object-id", "huge", "negative", "string"],
)
def test_a_wrongly_typed_report_is_rejected_and_the_good_one_beside_it_kept(
    client: FlaskClient, registry: CollectorRegistry, bad: object, reason: str
) -> None:
    good = {"name": "INP", "value": 120, "id": "good", "pageUrl": "https://shop.test/"}
    answer = client.post(URL, json=[bad, good])
    assert answer.status_code == 200
    assert answer.json is not None
    assert answer.json["received"] == 1
    assert [(r["index"], r["reason"]) for r in answer.json["rejected"]] == [(0, reason)]
    assert registry.get_sample_value("perfbudget_inp_seconds_count", {"route": "/", "device": "unknown"}) == 1


def test_a_content_length_over_the_cap_is_refused_before_the_body_is_read(
    make_app: Callable[..., Flask], registry: CollectorRegistry
) -> None:
    client = make_app(beacons={"max_body_bytes": 4096}).test_client()
    answer = client.post(URL, data=b"[" + b" " * 5000 + b"]", headers=PLAIN)
    assert answer.status_code == 413
    assert registry.get_sample_value("perfbudget_reports_rejected_total", {"reason": "body_too_large"}) == 1


def test_a_disallowed_origin_is_refused_and_counted(make_app: Callable[..., Flask],
                                                     registry: CollectorRegistry) -> None:
    client = make_app(beacons={"allowed_origins": ["https://shop.test"]}).test_client()
    answer = client.post(URL, json={"name": "LCP", "value": 1, "id": "o"}, headers={"Origin": "https://evil.test"})
    assert answer.status_code == 403
    assert registry.get_sample_value("perfbudget_reports_rejected_total", {"reason": "origin_not_allowed"}) == 1
    assert registry.get_sample_value("perfbudget_lcp_seconds_count", {"route": "unknown", "device": "unknown"}) is None
