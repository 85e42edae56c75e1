"""Parsing and validation of beacon bodies: a table of bad reports, each with its exact error."""

from typing import Any

import pytest

from perfbudget.beacons import REJECT_REASONS, BeaconError, Rejection, Report, decode, parse, validate

GOOD: dict[str, Any] = {"name": "LCP", "value": 2300, "delta": 2300, "id": "v6-1-1", "rating": "good",
                        "navigationType": "navigate", "pageUrl": "https://shop.test/products/1?x=1"}


def changed(**fields: Any) -> dict[str, Any]:
    item = dict(GOOD)
    for key, value in fields.items():
        if value is ...:
            item.pop(key)
        else:
            item[key] = value
    return item


def test_a_good_report_converts_milliseconds_to_seconds() -> None:
    report = validate(0, GOOD)
    assert isinstance(report, Report)
    assert report.vital.name == "LCP" and report.value == 2.3 and report.id == "v6-1-1"
    assert report.page_url == "https://shop.test/products/1?x=1"


@pytest.mark.parametrize(
    ("item", "reason", "error"),
    [
        (42, "not_an_object", "report 0: expected a Metric object, got int"),
        (None, "not_an_object", "report 0: expected a Metric object, got null"),
        (changed(name="XYZ"), "unknown_metric", "report 0: name 'XYZ' is not one of LCP, INP, CLS, FCP, TTFB"),
        (changed(name=...), "unknown_metric", "report 0: name (missing) is not one of LCP, INP, CLS, FCP, TTFB"),
        (changed(name="FID"), "fid_retired",
         "report 0: FID is retired (web-vitals v5 removed it); send INP instead"),
        (changed(value="2300"), "invalid_value", "report 0: LCP value '2300' is not a number"),
        (changed(value=True), "invalid_value", "report 0: LCP value True is not a number"),
        (changed(value=...), "invalid_value", "report 0: LCP value (missing) is not a number"),
        (changed(value=-1), "invalid_value", "report 0: LCP value -1 must be finite and >= 0"),
        (changed(value=600_001), "value_out_of_range",
         "report 0: LCP value 600001 is over the sane bound of 600000ms"),
        (changed(name="CLS", value=101), "value_out_of_range",
         "report 0: CLS value 101 is over the sane bound of 100"),
        (changed(id=...), "missing_id",
         "report 0: id (missing) must be a non-empty string of at most 128 characters"),
        (changed(id=""), "missing_id", "report 0: id '' must be a non-empty string of at most 128 characters"),
        (changed(id=7), "missing_id", "report 0: id 7 must be a non-empty string of at most 128 characters"),
    ],
)
def test_a_bad_report_is_rejected_with_its_reason_and_exact_error(item: Any, reason: str, error: str) -> None:
    result = validate(0, item)
    assert isinstance(result, Rejection)
    assert (result.reason, result.error) == (reason, error)


def test_decode_takes_one_object_or_an_array() -> None:
    assert decode(b'{"name":"LCP"}', 10) == [{"name": "LCP"}]
    assert decode(b'[{"a":1},{"b":2}]', 10) == [{"a": 1}, {"b": 2}]


def test_parse_keeps_the_good_reports_beside_the_bad_ones_in_order() -> None:
    body = b'[{"name":"LCP","value":2300,"id":"a"},{"name":"FID","value":1,"id":"b"},42,' \
           b'{"name":"CLS","value":0.05,"id":"c"}]'
    reports, rejections = parse(body, 10)
    assert [(r.vital.name, r.id) for r in reports] == [("LCP", "a"), ("CLS", "c")]
    assert [(r.index, r.reason) for r in rejections] == [(1, "fid_retired"), (2, "not_an_object")]


def test_every_reason_a_rejection_can_carry_is_a_declared_label_value() -> None:
    assert len(set(REJECT_REASONS)) == len(REJECT_REASONS) == 11
    assert {"fid_retired", "invalid_json", "origin_not_allowed", "rate_limited"} <= set(REJECT_REASONS)


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        (b"", "invalid_json", "body is not valid JSON"),
        (b"{", "invalid_json", "body is not valid JSON"),
        (b'[{"name":"LCP","value":NaN}]', "invalid_json", "body is not valid JSON"),
        (b'{"value": Infinity}', "invalid_json", "body is not valid JSON"),
        (b'"\xff\xfe"', "invalid_json", "body is not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "invalid_json", "body is not valid JSON"),
        (b"[]", "invalid_json", "body is an empty array"),
        (b"[1,2,3]", "batch_too_large", "batch of 3 reports is over the limit of 2"),
    ],
)
def test_an_unusable_body_is_refused_whole(body: bytes, reason: str, message: str) -> None:
    with pytest.raises(BeaconError, match=message) as info:
        parse(body, 2)
    assert info.value.reason == reason


def test_a_number_beyond_double_range_makes_the_body_invalid_json() -> None:
    with pytest.raises(BeaconError, match="number is infinity when parsed as double") as info:
        parse(b'[{"name":"LCP","value":1e400,"id":"a"}]', 10)
    assert info.value.reason == "invalid_json"


def test_huge_finite_numbers_parse_but_are_rejected_as_out_of_range() -> None:
    body = b'[{"name":"LCP","value":1e308,"id":"a"},{"name":"INP","value":123456789012345678901234567890,"id":"b"}]'
    reports, rejections = parse(body, 10)
    assert not reports
    assert [r.reason for r in rejections] == ["value_out_of_range", "value_out_of_range"]
