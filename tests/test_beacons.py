"""Parsing and validation of beacon bodies: a table of bad reports, each with its exact error."""

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- the one-pass decoder answers exactly what orjson and validate() answer, report by report ----------

SAMPLE = (b'[{"name":"LCP","value":2140.5,"delta":2140.5,"id":"v6-1","rating":"good","navigationType":"navigate",'
          b'"pageUrl":"https://shop.test/p/1?u=m","timestamp":1795400000000,"attribution":{"target":"#hero > img",'
          b'"url":"https://cdn.test/hero.jpg?v=3","timeToFirstByte":180.2}},{"name":"INP","value":168,"id":"v6-2",'
          b'"attribution":{"interactionTarget":"button","longestScript":{"url":"https://shop.test/app.js",'
          b'"intersectingDuration":110}}},{"name":"CLS","value":0,"id":"v6-3","device":"mobile"}]')
# Tokens on which a fast decoder and orjson could disagree: range, integer width, UTF-8, escapes, depth.
TOKENS = [b"1e400", b"1.8e308", b"1e308", b"-0", b"-0.0", b"1e-400", b"9" * 400, b"123456789012345678901234567890",
          b"9223372036854775808", b"18446744073709551616", b"-9223372036854775809", b"true", b"null", b'"\\ud800"',
          b'"\\udc00"', b'"\xff"', b'"\xed\xa0\x80"', b'"a\x01"', b"[" * 1030 + b"]" * 1030, b"{}", b"[]", b'"FID"',
          b"NaN", b'"' + b"x" * 129 + b'"', b'""', b"[[[[1]]]]", b'{"entry":{"sourceURL":"https://a.test/x.js"}}']


def checked(body: bytes, max_batch: int = 10) -> object:
    """What orjson followed by validate() on each element answers: the reference for parse()."""
    try:
        items = decode(body, max_batch)
    except BeaconError as exc:
        return (exc.reason, str(exc))
    results = [validate(index, item) for index, item in enumerate(items)]
    return ([r for r in results if isinstance(r, Report)], [r for r in results if isinstance(r, Rejection)])


def parsed(body: bytes, max_batch: int = 10) -> object:
    try:
        return parse(body, max_batch)
    except BeaconError as exc:
        return (exc.reason, str(exc))


def test_a_browser_batch_takes_the_fast_path_and_gives_the_same_reports() -> None:
    reports, rejections = parse(SAMPLE, 10)
    assert (reports, rejections) == checked(SAMPLE) and len(reports) == 3 and not rejections
    assert reports[2].device_hint == "phone" and reports[0].attribution == orjson.loads(SAMPLE)[0]["attribution"]


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize("place", [b'"value":2140.5', b'"delta":2140.5', b'"timeToFirstByte":180.2', b'"id":"v6-2"',
                                   b'"intersectingDuration":110', b'"timestamp":1795400000000', b'"device":"mobile"'])
def test_a_hostile_token_anywhere_gets_the_answer_orjson_and_validate_give(token: bytes, place: bytes) -> None:
    key = place.split(b":", 1)[0]
    body = SAMPLE.replace(place, key + b":" + token)
    assert parsed(body) == checked(body)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(
    st.sampled_from(["name", "value", "id", "delta", "pageUrl", "navigationURL", "device", "attribution", "x"]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                 | st.sampled_from(["LCP", "CLS", "FID", "mobile", "tablet", "a", ""]) | st.text(max_size=4),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                 max_leaves=6),
), max_size=4))
def test_any_batch_gets_the_answer_orjson_and_validate_give(batch: list[dict[str, Any]]) -> None:
    body = json.dumps(batch).encode()
    assert parsed(body, 3) == checked(body, 3)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=4), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6)
METRIC = st.fixed_dictionaries(
    {"name": st.sampled_from(["LCP", "INP", "CLS", "FCP", "TTFB"]),
     "value": st.integers(0, 700_000) | st.floats(0, 700_000) | st.floats(0, 1), "id": st.text(min_size=1, max_size=3)},
    optional={"pageUrl": st.text(max_size=3) | st.none(), "navigationURL": st.text(max_size=3) | JSON,
              "device": st.sampled_from(["mobile", "phone", "tablet", "tv"]) | JSON, "navigationType": JSON,
              "attribution": st.dictionaries(st.sampled_from(["url", "target", "longestScript"]), JSON, max_size=3)
              | JSON, "entries": JSON},
)


@settings(max_examples=300, deadline=None)
@given(st.lists(METRIC, min_size=1, max_size=4) | METRIC)
def test_a_mostly_valid_batch_gets_the_answer_orjson_and_validate_give(batch: object) -> None:
    body = json.dumps(batch).encode()
    assert parsed(body) == checked(body)
