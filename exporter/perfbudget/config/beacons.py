"""Beacon intake: body and batch caps, origins, rate limits, dedup, attribution."""

from __future__ import annotations

import re
from typing import Annotated

from limits import parse_many
from pydantic import Field, field_validator

from .base import StrictModel


class BeaconsConfig(StrictModel):
    max_body_bytes: Annotated[int, Field(ge=1024, le=1 << 20)] = 65536
    max_batch: Annotated[int, Field(ge=1, le=1000)] = 32
    # Origins whose pages may send beacons; "*" accepts any origin (and still echoes it, for credentials).
    allowed_origins: list[str] = Field(default_factory=lambda: ["*"])
    # Per client address, Flask-Limiter notation ("50/second", "1000/minute"), or "off".
    rate_limit: str = "50/second"
    # Slots in the cross-worker table that remembers (id, name) pairs already observed.
    dedup_slots: Annotated[int, Field(ge=1024, le=1 << 26)] = 1 << 20
    # Longest an (id, name) pair is remembered; CLS/INP repeats arrive on a later hide of the same page.
    dedup_ttl_seconds: Annotated[int, Field(ge=60, le=7 * 86400)] = 86400
    # Distinct attribution values (LCP images, INP targets, ...) remembered per route and vital.
    attribution_top_k: Annotated[int, Field(ge=1, le=1000)] = 20
    # Extra, bounded label: the web-vitals navigationType (navigate, reload, back-forward, ...).
    navigation_type_label: bool = False
    # Record LCP's subparts and INP's phases (perfbudget_lcp_subpart_seconds, perfbudget_inp_phase_seconds): up
    # to 147 more series per busy route and device in Prometheus; off, the summary has no breakdown and the
    # alerts' cause is `unknown`.
    breakdowns: bool = True
    # Share of page views /beacon.js reports (one draw per page view), written into the script it serves and
    # exposed as perfbudget_beacon_sample_rate; 1 reports every page view, 0 none.
    sample_rate: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 1.0

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com (no path)")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        return rate_limit_notation(value)


def rate_limit_notation(value: str) -> str:
    """A limit in Flask-Limiter's notation ('50/second', '1000 per minute'), or 'off'."""
    if value == "off":
        return value
    try:
        parse_many(value)
    except ValueError:
        raise ValueError("must be Flask-Limiter notation like '50/second' or '1000 per minute', or 'off'") from None
    return value
