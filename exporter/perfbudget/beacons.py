"""Parse and validate a beacon body into reports. No Flask, no Prometheus: the hot path's first stage.

A beacon is one web-vitals Metric object or an array of them. `parse(body)` decodes it once and validates
each element on its own, so a malformed report never drops the good ones beside it; the rejected ones come
back with their index, a reason (a bounded label value) and a sentence saying what was wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

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
#: Metric names web-vitals clients still send that perfbudget refuses, each with its own reason.
RETIRED: dict[str, RejectReason] = {"FID": "fid_retired"}

MAX_ID_LENGTH = 128
MAX_URL_LENGTH = 2048
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


@dataclass(slots=True)
class Rejection:
    index: int
    reason: RejectReason
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "reason": self.reason, "error": self.error}


def parse(body: bytes, max_batch: int) -> tuple[list[Report], list[Rejection]]:
    """A beacon body -> (the valid reports, the rejected ones); BeaconError when the whole body is unusable."""
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
    """One Metric object -> a Report, or a Rejection naming the field and the problem."""
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
    if not isinstance(metric_id, str) or not metric_id or len(metric_id) > MAX_ID_LENGTH:
        return Rejection(index, "missing_id", f"report {index}: id {_show(metric_id)} must be a non-empty string "
                         f"of at most {MAX_ID_LENGTH} characters")
    page_url = item.get("pageUrl")
    if not isinstance(page_url, str):
        page_url = item.get("navigationURL") if isinstance(item.get("navigationURL"), str) else None
    if page_url is not None and len(page_url) > MAX_URL_LENGTH:
        page_url = page_url[:MAX_URL_LENGTH]
    nav = item.get("navigationType")
    device = item.get("device")
    attribution = item.get("attribution")
    return Report(
        vital=vital,
        value=vital.to_base(value),
        id=metric_id,
        navigation_type=nav if isinstance(nav, str) else None,
        page_url=page_url,
        device_hint=_DEVICE_HINTS.get(device) if isinstance(device, str) else None,
        attribution=attribution if isinstance(attribution, dict) else None,
    )


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _show(value: Any) -> str:
    if value is None:
        return "(missing)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
