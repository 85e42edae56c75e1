"""OTLP metrics push. Off unless an endpoint is configured here or in OTEL_EXPORTER_OTLP_ENDPOINT.

The standard OTEL_* environment variables win over the file, as OpenTelemetry users expect.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import StrictModel


class OtlpConfig(StrictModel):
    endpoint: str | None = None
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    headers: dict[str, str] = Field(default_factory=dict)
    temporality: Literal["cumulative", "delta", "lowmemory"] = "cumulative"
    histogram: Literal["explicit", "exponential"] = "explicit"
    interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    insecure: bool = True
    service_name: str = "perfbudget"
    resource_attributes: dict[str, str] = Field(default_factory=dict)
    # browser.web_vital.rating as an attribute (three values, so bounded); off by default.
    rating_attribute: bool = False
