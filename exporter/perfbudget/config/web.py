"""Serving, beacon intake and route configuration."""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .base import StrictModel


def _default_workers() -> int:
    return max(2, os.cpu_count() or 2)


class ServerConfig(StrictModel):
    listen_address: str = "127.0.0.1:9478"
    workers: Annotated[int, Field(ge=1, le=256)] = Field(default_factory=_default_workers)
    # Production server, chosen on measurements (benchmarks/ingest.py): granian unless you need gunicorn.
    server: Literal["granian", "gunicorn", "gunicorn-gthread"] = "granian"
    # Threads per worker (granian's blocking threads, gunicorn-gthread's threads). A client sending its body
    # slowly holds one; on the public internet, a buffering reverse proxy in front is still the real defence.
    # Default 2 * cores + 1, the most granian runs without warning about GIL contention.
    threads: Annotated[int, Field(ge=1, le=256)] = Field(default_factory=lambda: 2 * (os.cpu_count() or 2) + 1)
    # How many reverse-proxy hops to trust in X-Forwarded-For when finding the client address.
    trusted_proxy_hops: Annotated[int, Field(ge=0, le=10)] = 0

    @field_validator("listen_address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT with a port between 1 and 65535")
        if host.startswith("[") != host.endswith("]"):
            raise ValueError("an IPv6 host must be written in brackets, like [::1]:9478")
        return value

    @property
    def host(self) -> str:
        return self.listen_address.rpartition(":")[0].strip("[]") or "0.0.0.0"

    @property
    def port(self) -> int:
        return int(self.listen_address.rpartition(":")[2])


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
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ValueError("must be Flask-Limiter notation like '50/second' or '1000 per minute', or 'off'") from None
    return value


# Route labels are stored in a fixed-size table shared by the workers (pages.RouteTable).
MAX_ROUTE_LABEL_BYTES = 120


class RoutePattern(StrictModel):
    """A route template (`/inventory/:slug`, `/docs/*`) or a regex with the route label it maps to."""

    template: str | None = None
    regex: str | None = None
    route: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> RoutePattern:
        if (self.template is None) == (self.regex is None):
            raise ValueError("give either 'template' or 'regex' (with 'route'), not both or neither")
        if self.regex is not None:
            if not self.route:
                raise ValueError("a 'regex' pattern needs the 'route' label it maps to")
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r} does not compile: {exc}") from None
        if self.template is not None and not self.template.startswith("/"):
            raise ValueError(f"template {self.template!r} must start with '/'")
        label = self.template if self.template is not None else self.route or ""
        if len(label.encode()) > MAX_ROUTE_LABEL_BYTES:
            raise ValueError(f"route label {label[:40]!r}... is longer than {MAX_ROUTE_LABEL_BYTES} bytes")
        return self


class RoutesConfig(StrictModel):
    # Strings are templates; mappings are {template: ...} or {regex: ..., route: ...}.
    patterns: list[RoutePattern] = Field(default_factory=list)
    # Hard cap on distinct route label values; further routes are counted under "other".
    max_routes: Annotated[int, Field(ge=1, le=10_000)] = 200
    # Paths no pattern matches: "collapse" keeps the path with id-like segments replaced by ":id";
    # "other" sends them all to "other".
    unmatched: Literal["collapse", "other"] = "collapse"

    @field_validator("patterns", mode="before")
    @classmethod
    def _strings_are_templates(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"template": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("patterns")
    @classmethod
    def _matchable_together(cls, value: list[RoutePattern]) -> list[RoutePattern]:
        """The patterns are matched as one alternation (pages.RouteNormalizer), where a regex's group numbers
        shift: backreferences and named groups, fine on their own, break there. Refuse them here."""
        from ..pages import patterns_regex

        for index, pattern in enumerate(value):
            if pattern.regex is None:
                continue
            try:
                re.compile(patterns_regex([pattern], first=index))
            except re.error:
                raise ValueError(f"[{index}] regex {pattern.regex!r}: backreferences are not supported in "
                                 "route regexes (the patterns are matched as one alternation)") from None
        try:
            re.compile(patterns_regex(value))
        except re.error as exc:
            raise ValueError(f"the patterns do not compile together ({exc}): named groups must not repeat "
                             "or be named p0, p1, ...") from None
        return value
