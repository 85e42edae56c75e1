"""OTLP metrics push: the `otlp:` section and the standard OTEL_* environment variables over it.

Off unless an endpoint is configured, here or in OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT. The environment
variables win over the file, as OpenTelemetry users expect. An invalid variable is logged and ignored (the
file's value applies), which is what the OpenTelemetry specification asks of SDKs: a typo in a deployment's
environment must not stop the exporter from serving beacons. The file itself is validated strictly.
"""

from __future__ import annotations

import logging
import math
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal, TypeVar

from pydantic import Field, field_validator

from .base import StrictModel

_log = logging.getLogger(__name__)

Protocol = Literal["grpc", "http/protobuf"]
Temporality = Literal["cumulative", "delta", "lowmemory"]
HistogramKind = Literal["explicit", "exponential"]
Compression = Literal["none", "gzip"]

#: The OTLP/HTTP path of the metrics signal, appended to a base endpoint (OTLP specification).
HTTP_METRICS_PATH = "/v1/metrics"


class OtlpConfig(StrictModel):
    # Base URL of the collector, like OTEL_EXPORTER_OTLP_ENDPOINT: http://collector:4317 for gRPC,
    # http://collector:4318 for http/protobuf (`/v1/metrics` is appended). Unset: OTLP is off.
    endpoint: str | None = None
    protocol: Protocol = "grpc"
    headers: dict[str, str] = Field(default_factory=dict)
    temporality: Temporality = "cumulative"
    histogram: HistogramKind = "explicit"
    compression: Compression = "none"
    interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    # Longest a worker waits at exit for its last export (the server kills workers after 30 s).
    shutdown_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    # gRPC only, for an endpoint written without a scheme; a scheme decides by itself (https: TLS).
    insecure: bool = True
    service_name: str = "perfbudget"
    resource_attributes: dict[str, str] = Field(default_factory=dict)
    # browser.web_vital.rating as an attribute (three values, so bounded); off by default.
    rating_attribute: bool = False

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return value
        problem = _endpoint_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            # gRPC metadata keys are lower-case tokens; HTTP header names are case-insensitive tokens.
            if not name or any(c.isspace() or c in ',=:"' for c in name):
                raise ValueError(f"{name!r} is not a header name (no spaces, commas, '=', ':' or quotes)")
        return value


def _endpoint_problem(value: str) -> str | None:
    """Why `value` is not an http(s) URL with a host, nor host:port (gRPC without a scheme); None if it is."""
    if "://" in value:
        parsed = urllib.parse.urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return "must be an http:// or https:// URL with a host, like http://collector:4317"
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        return "must be a URL like http://collector:4317 (or host:port for gRPC)"
    return None


@dataclass(frozen=True, slots=True)
class OtlpSettings:
    """What the pipeline is built from: the file's section with the environment applied, fully resolved."""

    url: str  # what the exporter is given: gRPC host:port URL, or the full HTTP URL with /v1/metrics
    protocol: Protocol
    headers: dict[str, str]
    delta: bool  # histograms in delta temporality (both "delta" and "lowmemory" mean that for histograms)
    exponential: bool
    gzip: bool
    insecure: bool
    interval_seconds: float
    timeout_seconds: float
    export_timeout_seconds: float
    shutdown_timeout_seconds: float
    rating_attribute: bool
    resource_attributes: dict[str, str] = field(default_factory=dict)  # service.name included


T = TypeVar("T")


def _env(env: Mapping[str, str], names: tuple[str, ...], parse: Callable[[str], T | None]) -> T | None:
    """The first variable of `names` that is set (non-empty) and valid, parsed; invalid ones are logged."""
    for name in names:
        raw = env.get(name, "").strip()
        if not raw:
            continue
        value = parse(raw)
        if value is None:
            # Header variables carry credentials: name the variable, never echo its value.
            shown = "(value hidden)" if "HEADERS" in name else repr(raw)
            _log.warning("ignoring %s=%s: not a valid value", name, shown)
            continue
        return value
    return None


def _choice(*allowed: str) -> Callable[[str], str | None]:
    def parse(raw: str) -> str | None:
        value = raw.lower()
        return value if value in allowed else None

    return parse


def _protocol(raw: str) -> Protocol | None:
    # http/json is a valid OTLP protocol, but the Python SDK has no exporter for it: logged and ignored.
    value = raw.lower()
    if value == "grpc":
        return "grpc"
    if value == "http/protobuf":
        return "http/protobuf"
    return None


def _millis(raw: str) -> float | None:
    try:
        value = float(raw) / 1000.0
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _bool(raw: str) -> bool | None:
    return {"true": True, "false": False}.get(raw.lower())


def _url(raw: str) -> str | None:
    return None if _endpoint_problem(raw) else raw


def parse_key_values(raw: str, what: str) -> dict[str, str] | None:
    """`k1=v1,k2=v2` with percent-encoded values (OTEL_*_HEADERS, OTEL_RESOURCE_ATTRIBUTES); bad pairs skipped."""
    out: dict[str, str] = {}
    for pair in raw.split(","):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        key = urllib.parse.unquote(key.strip())
        if not sep or not key:
            _log.warning("ignoring entry %d of %s: not key=value", raw.split(",").index(pair) + 1, what)
            continue
        out[key] = urllib.parse.unquote(value.strip())
    return out or None


def resolve(config: OtlpConfig, env: Mapping[str, str]) -> OtlpSettings | None:
    """The settings to push with, or None when OTLP is off (no endpoint, or disabled by the environment)."""
    if _env(env, ("OTEL_SDK_DISABLED",), _bool):
        return None
    exporter = _env(env, ("OTEL_METRICS_EXPORTER",), _choice("otlp", "none", "console", "prometheus"))
    if exporter == "none":
        return None
    if exporter not in (None, "otlp"):
        _log.warning("OTEL_METRICS_EXPORTER=%s is not supported here (only otlp or none); using otlp", exporter)

    protocol: Protocol = (
        _env(env, ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"), _protocol) or config.protocol
    )
    # The signal-specific variable is the exact URL (HTTP: used as-is); the generic one and the file's
    # endpoint are base URLs to which HTTP appends the signal path (OTLP exporter specification).
    signal_url = _env(env, ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",), _url)
    base_url = _env(env, ("OTEL_EXPORTER_OTLP_ENDPOINT",), _url) or config.endpoint
    if signal_url is None and base_url is None:
        return None

    insecure = _env(env, ("OTEL_EXPORTER_OTLP_METRICS_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"), _bool)
    insecure = config.insecure if insecure is None else insecure
    if signal_url is not None:
        url = signal_url if "://" in signal_url else f"{'http' if insecure else 'https'}://{signal_url}"
    else:
        assert base_url is not None
        url = base_url if "://" in base_url else f"{'http' if insecure else 'https'}://{base_url}"
        if protocol == "http/protobuf":
            url = url.rstrip("/") + HTTP_METRICS_PATH
    scheme = urllib.parse.urlsplit(url).scheme
    # A scheme decides for itself; `insecure` only speaks for endpoints written without one.
    insecure = scheme == "http"

    headers = {k.lower(): v for k, v in config.headers.items()}
    env_headers = _env(
        env,
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
        lambda raw: parse_key_values(raw, "OTLP headers"),
    )
    headers.update({k.lower(): v for k, v in (env_headers or {}).items()})

    temporality = _env(
        env, ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",), _choice("cumulative", "delta", "lowmemory")
    ) or config.temporality
    aggregation = _env(
        env,
        ("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",),
        _choice("explicit_bucket_histogram", "base2_exponential_bucket_histogram"),
    )
    exponential = (
        aggregation == "base2_exponential_bucket_histogram" if aggregation else config.histogram == "exponential"
    )
    compression = _env(
        env, ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"), _choice("none", "gzip")
    ) or config.compression

    # The specification gives every OTEL_* duration in milliseconds, including OTEL_EXPORTER_OTLP_TIMEOUT
    # (the Python SDK alone reads that one as seconds; we follow the specification, and document it).
    interval = _env(env, ("OTEL_METRIC_EXPORT_INTERVAL",), _millis) or config.interval_seconds
    timeout = (
        _env(env, ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"), _millis)
        or config.timeout_seconds
    )
    export_timeout = _env(env, ("OTEL_METRIC_EXPORT_TIMEOUT",), _millis) or 30.0

    resource = {"service.name": config.service_name, **config.resource_attributes}
    resource.update(
        _env(env, ("OTEL_RESOURCE_ATTRIBUTES",), lambda raw: parse_key_values(raw, "OTEL_RESOURCE_ATTRIBUTES")) or {}
    )
    service_name = env.get("OTEL_SERVICE_NAME", "").strip()
    if service_name:
        resource["service.name"] = service_name

    return OtlpSettings(
        url=url,
        protocol=protocol,
        headers=headers,
        delta=temporality != "cumulative",
        exponential=exponential,
        gzip=compression == "gzip",
        insecure=insecure,
        interval_seconds=interval,
        timeout_seconds=timeout,
        export_timeout_seconds=export_timeout,
        shutdown_timeout_seconds=config.shutdown_timeout_seconds,
        rating_attribute=config.rating_attribute,
        resource_attributes=resource,
    )
