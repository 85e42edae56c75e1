"""Parse and validate a beacon body into reports. No Flask, no Prometheus: the hot path's first stage.

A beacon is one web-vitals Metric object or an array of them. `parse(body)` decodes and validates it in one
C pass (msgspec, into typed structs) when every report in it is well formed, which is what browsers send.
Anything else (a rejected report, an unknown field, a number or a nesting msgspec would read differently)
takes the checked path: orjson, then `validate` on each element on its own, so a malformed report never
drops the good ones beside it and every rejection carries its index, a reason (a bounded label value) and
a sentence saying what was wrong. The fast path only ever returns what the checked path would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import msgspec
import orjson

from .vitals import VITALS, Vital

#: Why a report (or a whole beacon) was refused: the only values `perfbudget_reports_rejected_total`'s
#: `reason` label takes, each exposed from the start.
RejectReason = Literal[
    "invalid_json",
    "body_too_large",
    "batch_too_large",
    "not_an_object",
    "unknown_metric",
    "fid_retired",
    "missing_id",
    "invalid_value",
    "value_out_of_range",
    "origin_not_allowed",
    "rate_limited",
]
REJECT_REASONS: tuple[RejectReason, ...] = get_args(RejectReason)
#: The web-vitals `navigationType` values kept as a label value (anything else is "unknown").
NAVIGATION_TYPES = ("navigate", "reload", "back-forward", "back-forward-cache", "prerender", "restore",
                    "soft-navigation")
#: The navigation types of a soft navigation (a single-page app's route change, web-vitals' reportSoftNavs);
#: every other one is a hard navigation (a document load, or its restore).
SOFT_NAVIGATION_TYPES = ("soft-navigation",)
#: Metric names web-vitals clients still send that perfbudget refuses, each with its own reason.
RETIRED: dict[str, RejectReason] = {"FID": "fid_retired"}

MAX_ID_LENGTH = 128
MAX_URL_LENGTH = 2048
#: The longest `site` or `version` field kept (longer ones are not a configured site or release: `other`).
MAX_LABEL_CLAIM = 64
_KNOWN = ", ".join(VITALS)
_DEVICE_HINTS = {"phone": "phone", "mobile": "phone", "tablet": "tablet", "desktop": "desktop"}


class BeaconError(ValueError):
    """The whole body is unusable (not JSON, empty, too many reports)."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class Report:
    vital: Vital
    value: float  # base units
    id: str
    navigation_type: str | None
    page_url: str | None
    device_hint: str | None
    attribution: dict[str, Any] | None
    # beacon.js: the page view saw an interaction and no INP by the end of its hide (perfbudget_inp_missing_total).
    inp_missing: bool = False
    # beacon.js's data-site and data-version (sites.py, releases.py decide what label value each gets).
    site: str | None = None
    version: str | None = None


@dataclass(slots=True)
class Rejection:
    index: int
    reason: RejectReason
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "reason": self.reason, "error": self.error}


# What the fast path decodes. Every field a report may carry is typed and unknown fields are refused, so
# msgspec skips nothing: it checks UTF-8, escapes and number ranges everywhere, as orjson does. The JSON
# types below are those on which both decoders agree exactly: integers only within int64 (orjson turns
# larger ones into floats, msgspec into ints) and a fixed depth (so neither decoder's nesting limit is
# reached). A body outside them is still parsed, by the checked path.
_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_Scalar = str | _Int | float | bool | None
_Inner = _Scalar | dict[str, _Scalar] | list[_Scalar | dict[str, _Scalar]]
_Attribution = dict[str, _Scalar | dict[str, _Inner] | list[_Inner]]
_Name = Literal["LCP", "INP", "CLS", "FCP", "TTFB"]


class _Metric(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    name: _Name
    value: float  # a JSON bool is refused here, as it must be
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    delta: float | None = None
    rating: str | None = None
    navigationType: str | None = None
    pageUrl: str | None = None
    navigationURL: str | None = None
    timestamp: float | None = None
    device: str | None = None
    attribution: _Attribution | None = None
    entries: list[dict[str, _Inner]] | None = None
    inpMissing: bool | None = None
    site: Annotated[str, msgspec.Meta(max_length=MAX_LABEL_CLAIM)] | None = None
    version: Annotated[str, msgspec.Meta(max_length=MAX_LABEL_CLAIM)] | None = None


_DECODER = msgspec.json.Decoder(list[_Metric] | _Metric)
#: name -> (vital, the sane bound in the beacon's unit, the divisor to base units).
_BOUNDS = {name: (vital, vital.max_beacon_value, 1000.0 if vital.ms else 1.0) for name, vital in VITALS.items()}


def parse(body: bytes, max_batch: int) -> tuple[list[Report], list[Rejection]]:
    """A beacon body -> (the valid reports, the rejected ones); BeaconError when the whole body is unusable."""
    try:
        decoded = _DECODER.decode(body)
    except msgspec.MsgspecError:
        return _parse_checked(body, max_batch)
    batch = decoded if isinstance(decoded, list) else [decoded]
    if not 0 < len(batch) <= max_batch:
        return _parse_checked(body, max_batch)
    reports: list[Report] = []
    for metric in batch:
        vital, bound, divisor = _BOUNDS[metric.name]
        value = metric.value
        if not 0 <= value <= bound:
            return _parse_checked(body, max_batch)  # its rejection says it exactly
        # The URL of the navigation the metric belongs to first: pageUrl is where the page was when the batch
        # left, which in a single-page app can be a later route.
        page_url = metric.navigationURL
        if page_url is None:
            page_url = metric.pageUrl
        if page_url is not None and len(page_url) > MAX_URL_LENGTH:
            page_url = page_url[:MAX_URL_LENGTH]
        device = metric.device
        reports.append(Report(
            vital, value / divisor, metric.id, metric.navigationType, page_url,
            None if device is None else _DEVICE_HINTS.get(device), metric.attribution, metric.inpMissing is True,
            metric.site, metric.version,
        ))
    return reports, []


def _parse_checked(body: bytes, max_batch: int) -> tuple[list[Report], list[Rejection]]:
    reports: list[Report] = []
    rejections: list[Rejection] = []
    for index, item in enumerate(decode(body, max_batch)):
        checked = validate(index, item)
        if isinstance(checked, Report):
            reports.append(checked)
        else:
            rejections.append(checked)
    return reports, rejections


def decode(body: bytes, max_batch: int) -> list[Any]:
    """JSON whatever the content type; NaN/Infinity literals, bad UTF-8 and deep nesting are invalid JSON."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BeaconError("invalid_json", f"body is not valid JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise BeaconError("invalid_json", "body is an empty array: send one Metric object or an array of them")
    if len(items) > max_batch:
        raise BeaconError("batch_too_large", f"batch of {len(items)} reports is over the limit of {max_batch}")
    return items


def validate(index: int, item: Any) -> Report | Rejection:
    """One decoded Metric object -> a Report, or a Rejection naming the field and the problem."""
    if isinstance(item, dict):
        get = item.get
        bounds = _BOUNDS.get(name) if isinstance(name := get("name"), str) else None
        value: Any = get("value")
        kind = type(value)
        metric_id = get("id")
        # orjson yields no NaN or infinity, so one chained comparison is the whole range check; bool is
        # an int subclass, refused by comparing types exactly.
        if (bounds is not None and (kind is float or kind is int) and 0 <= value <= bounds[1]
                and isinstance(metric_id, str) and 0 < len(metric_id) <= MAX_ID_LENGTH):
            page_url = get("navigationURL")
            if not isinstance(page_url, str):
                page_url = get("pageUrl")
                if not isinstance(page_url, str):
                    page_url = None
            if page_url is not None and len(page_url) > MAX_URL_LENGTH:
                page_url = page_url[:MAX_URL_LENGTH]
            nav, device, attribution = get("navigationType"), get("device"), get("attribution")
            return Report(
                bounds[0], value / bounds[2], metric_id, nav if isinstance(nav, str) else None, page_url,
                _DEVICE_HINTS.get(device) if isinstance(device, str) else None,
                attribution if isinstance(attribution, dict) else None, get("inpMissing") is True,
                _claim(get("site")), _claim(get("version")),
            )
    return _rejection(index, item)


def _claim(value: Any) -> str | None:
    """A `site` or `version` field as sent: a string, cut to MAX_LABEL_CLAIM + 1 characters (so a longer one
    matches nothing configured), else None."""
    return value[: MAX_LABEL_CLAIM + 1] if isinstance(value, str) else None


def _rejection(index: int, item: Any) -> Rejection:
    """Why `validate` refused `item`, in the order the fields are checked."""
    if not isinstance(item, dict):
        return Rejection(index, "not_an_object", f"report {index}: expected a Metric object, got {_kind(item)}")
    name = item.get("name")
    vital = VITALS.get(name) if isinstance(name, str) else None
    if vital is None:
        if isinstance(name, str) and name in RETIRED:
            return Rejection(index, RETIRED[name], f"report {index}: {name} is retired (web-vitals v5 "
                             "removed it); send INP instead")
        return Rejection(index, "unknown_metric", f"report {index}: name {_show(name)} is not one of {_KNOWN}")
    value: Any = item.get("value")
    if type(value) not in (int, float):  # bool is an int subclass: refuse it explicitly
        return Rejection(index, "invalid_value", f"report {index}: {name} value {_show(value)} is not a number")
    if not math.isfinite(value) or value < 0:
        return Rejection(index, "invalid_value", f"report {index}: {name} value {value!r} must be finite and >= 0")
    if value > vital.max_beacon_value:
        return Rejection(index, "value_out_of_range", f"report {index}: {name} value {value!r} is over the sane "
                         f"bound of {vital.max_beacon_value:g}{vital.display_unit}")
    metric_id = item.get("id")
    return Rejection(index, "missing_id", f"report {index}: id {_show(metric_id)} must be a non-empty string "
                     f"of at most {MAX_ID_LENGTH} characters")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _show(value: Any) -> str:
    if value is None:
        return "(missing)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
