"""OTLP metrics: the same vitals as the Prometheus histograms, pushed to an OpenTelemetry Collector.

One OpenTelemetry SDK `MeterProvider` per worker process (each worker builds its app after the fork), with a
`PeriodicExportingMetricReader` and the OTLP exporter (gRPC or HTTP/protobuf). One histogram instrument per
vital; a View per instrument gives it the Prometheus histogram's bucket edges (or, by the standard setting,
a base-2 exponential histogram), so the two pipelines count every report in the same bucket.

Names, chosen so that a collector's Prometheus exporters rebuild exactly the scraped names:
- instruments `perfbudget.lcp` (unit `s`) ... `perfbudget.cls` (unit `1`); OpenTelemetry names carry no unit,
  and the collector's translation appends it back: `perfbudget_lcp_seconds`, `perfbudget_cls`.
- `url.template` (semantic conventions: "the low-cardinality template of an absolute path reference") for
  the route; `perfbudget.device.class` for the device class, in our own namespace because no convention
  exists (`browser.mobile` is a boolean from client hints and cannot say tablet, desktop or unknown);
  `browser.web_vital.rating` (the convention's own) only when configured.

Export runs on the reader's thread, never on a request: a collector that is down, slow or refusing costs
the reader thread its timeout, and each failed export and its data points are counted in /metrics.

The SDK (10 MiB) and its OTLP exporters (16-37 MiB) are imported when a pipeline is built, that is when
OTLP is configured, never with this module: a process without OTLP does not carry them.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from . import __version__
from .config.otlp import OtlpSettings, resolve
from .devices import DEVICES
from .vitals import RATINGS, VITALS, Vital

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricsData
    from opentelemetry.sdk.metrics.view import Aggregation
    from opentelemetry.sdk.resources import Resource

    from .config import Config
    from .metrics import Metrics

__all__ = [
    "DEVICE_ATTRIBUTE",
    "RATING_ATTRIBUTE",
    "ROUTE_ATTRIBUTE",
    "SCOPE",
    "OtlpPipeline",
    "counting_exporter",
    "instrument_name",
]

_log = logging.getLogger(__name__)

SCOPE = "perfbudget"
ROUTE_ATTRIBUTE = "url.template"
DEVICE_ATTRIBUTE = "perfbudget.device.class"
RATING_ATTRIBUTE = "browser.web_vital.rating"
#: Route labels beyond the configured cap that the route normalizer can still produce ("other", "unknown").
_SPECIAL_ROUTES = 2


def instrument_name(vital: Vital) -> str:
    """`perfbudget.lcp`: the OpenTelemetry name of a vital's histogram (the unit is metadata, not a suffix)."""
    return f"{SCOPE}.{vital.key}"


def _count_points(data: MetricsData) -> int:
    return sum(
        len(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    )


class _CountingFactory(Protocol):
    def __call__(self, inner: MetricExporter, metrics: Metrics, *, delta: bool) -> MetricExporter: ...


@functools.cache
def counting_exporter() -> _CountingFactory:
    """The CountingExporter class, made on first use: its base class is the SDK's, imported only then."""
    from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
    from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExporter, MetricExportResult

    class CountingExporter(MetricExporter):
        """Delegates to the OTLP exporter; counts each export's outcome and the data points that failed.

        The SDK logs a failed export and moves on, and `force_flush()` reports success either way, so this
        is the one place that knows what reached the collector. It never raises: the reader thread lives on.
        """

        def __init__(self, inner: MetricExporter, metrics: Metrics, *, delta: bool) -> None:
            temporality = AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
            super().__init__(preferred_temporality={HistogramInstrument: temporality})
            self.inner = inner
            self._success = metrics.otlp_exports.labels("success")
            self._failure = metrics.otlp_exports.labels("failure")
            self._failed_points = metrics.otlp_failed_points

        def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
                   **kwargs: Any) -> MetricExportResult:
            try:
                result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
            except Exception:  # an exporter bug must cost one export, not the reader thread
                _log.exception("OTLP export raised")
                result = MetricExportResult.FAILURE
            if result is MetricExportResult.SUCCESS:
                self._success.inc()
            else:
                self._failure.inc()
                self._failed_points.inc(_count_points(metrics_data))
            return result

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return bool(self.inner.force_flush(timeout_millis=timeout_millis))

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            # Both OTLP exporters abort their retry backoff and close their connection here, which is what
            # bounds the reader's last export when the collector does not answer.
            self.inner.shutdown(timeout_millis=timeout_millis)

    return CountingExporter


def otlp_exporter(settings: OtlpSettings) -> MetricExporter:
    """The SDK's OTLP exporter for the resolved settings (everything passed explicitly, nothing re-read)."""
    if settings.protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

        return GrpcExporter(
            endpoint=settings.url,
            insecure=settings.insecure,
            headers=settings.headers or None,
            timeout=settings.timeout_seconds,
            compression=grpc.Compression.Gzip if settings.gzip else grpc.Compression.NoCompression,
        )
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

    return HttpExporter(
        endpoint=settings.url,  # the full URL, /v1/metrics included (resolve() appended it to a base URL)
        headers=settings.headers,
        timeout=settings.timeout_seconds,
        compression=Compression.Gzip if settings.gzip else Compression.NoCompression,
    )


def _resource(settings: OtlpSettings) -> Resource:
    from opentelemetry.sdk.resources import Resource

    attributes: dict[str, str | int] = {"service.version": __version__, **settings.resource_attributes}
    if "service.instance.id" in attributes:
        _log.warning("OTLP: service.instance.id=%r replaced by one per worker", attributes["service.instance.id"])
    # Each worker pushes its own cumulative series; a shared instance id would make them collide.
    attributes["service.instance.id"] = str(uuid.uuid4())
    attributes["process.pid"] = os.getpid()
    return Resource.create(attributes)


class OtlpPipeline:
    """The per-worker OTLP pipeline: `record()` on the hot path, `shutdown()` at worker exit."""

    def __init__(
        self,
        settings: OtlpSettings,
        edges: Mapping[str, tuple[float, ...]],
        metrics: Metrics,
        *,
        max_routes: int = 200,
        exporter: MetricExporter | None = None,
    ) -> None:
        from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.metrics.view import View

        self.settings = settings
        self.exporter = counting_exporter()(exporter or otlp_exporter(settings), metrics, delta=settings.delta)
        reader = PeriodicExportingMetricReader(
            self.exporter,
            export_interval_millis=settings.interval_seconds * 1000,
            export_timeout_millis=settings.export_timeout_seconds * 1000,
        )
        # Enough distinct attribute sets for every route the normalizer can produce on every device (and
        # rating): the SDK's default limit (2000) would fold the rest into an overflow series that the
        # Prometheus side does not have.
        series = (max_routes + _SPECIAL_ROUTES) * len(DEVICES) * (len(RATINGS) if settings.rating_attribute else 1)
        views = [
            View(
                instrument_name=instrument_name(VITALS[name]),
                meter_name=SCOPE,
                aggregation=self._aggregation(bounds),
                aggregation_cardinality_limit=series + 1,
            )
            for name, bounds in edges.items()
        ]
        self.resource = _resource(settings)
        self._provider = MeterProvider(
            metric_readers=[reader],
            resource=self.resource,
            views=views,
            # No traces here, so no exemplars; the filter also skips a context lookup per measurement.
            exemplar_filter=AlwaysOffExemplarFilter(),
            # Workers call shutdown() themselves, bounded; the SDK's atexit hook would wait unbounded.
            shutdown_on_exit=False,
        )
        meter = self._provider.get_meter(SCOPE, __version__)
        self._histograms: dict[str, Histogram] = {
            name: meter.create_histogram(
                instrument_name(VITALS[name]), unit=VITALS[name].unit, description=VITALS[name].description
            )
            for name in edges
        }
        # (vital, route, device, rating) -> (the instrument's record, its attribute dict), built once per key:
        # the SDK copies and hashes the attributes on every call, but need not find a new dict each time.
        self._bound: dict[tuple[str, str, str, str], tuple[Any, Mapping[str, str]]] = {}
        self._attributes: dict[tuple[str, str, str], Mapping[str, str]] = {}
        self._closed = False
        _log.info(
            "OTLP: pushing %s histograms to %s (%s) every %gs as instance %s",
            "exponential" if settings.exponential else "explicit-bucket",
            settings.url,
            settings.protocol,
            settings.interval_seconds,
            self.resource.attributes["service.instance.id"],
        )

    def _aggregation(self, bounds: tuple[float, ...]) -> Aggregation:
        from opentelemetry.sdk.metrics.view import (
            ExplicitBucketHistogramAggregation,
            ExponentialBucketHistogramAggregation,
        )

        if self.settings.exponential:
            return ExponentialBucketHistogramAggregation()
        return ExplicitBucketHistogramAggregation(boundaries=bounds)

    @classmethod
    def from_config(
        cls,
        config: Config,
        edges: Mapping[str, tuple[float, ...]],
        metrics: Metrics,
        env: Mapping[str, str] | None = None,
        exporter: MetricExporter | None = None,
    ) -> OtlpPipeline | None:
        """The pipeline for `config.otlp` with the OTEL_* environment over it; None when OTLP is off.

        `exporter` replaces the OTLP exporter the settings would build (tests capture what is pushed)."""
        settings = resolve(config.otlp, os.environ if env is None else env)
        if settings is None:
            return None
        return cls(settings, edges, metrics, max_routes=config.routes.max_routes, exporter=exporter)

    def record(self, vital: str, value: float, route: str, device: str, rating: str) -> None:
        """Record one accepted report (value in base units). Never raises into the request."""
        try:
            bound = self._bound.get((vital, route, device, rating))
            if bound is None:
                bound = self._bind(vital, route, device, rating)
            bound[0](value, bound[1])
        except Exception:  # telemetry must not fail a beacon that Prometheus already counted
            _log.exception("OTLP: recording %s failed", vital)

    def _bind(self, vital: str, route: str, device: str, rating: str) -> tuple[Any, Mapping[str, str]]:
        rated = rating if self.settings.rating_attribute else ""
        attributes = self._attributes.get((route, device, rated))
        if attributes is None:
            built = {ROUTE_ATTRIBUTE: route, DEVICE_ATTRIBUTE: device}
            if rated:
                built[RATING_ATTRIBUTE] = rated
            attributes = self._attributes[(route, device, rated)] = built
        # Keys are bounded: routes by the normalizer's cap, devices and ratings by construction.
        bound = self._bound[(vital, route, device, rating)] = (self._histograms[vital].record, attributes)
        return bound

    def force_flush(self, timeout_seconds: float = 10.0) -> None:
        """Collect and export now (the outcome is counted, not returned: the SDK always says True)."""
        self._provider.force_flush(timeout_millis=timeout_seconds * 1000)

    def shutdown(self) -> None:
        """Export what is left, waiting at most `shutdown_timeout_seconds`; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            # The reader joins its thread (which makes the last export) for the timeout, then shuts the
            # exporter down, which aborts a retry still waiting on a collector that does not answer.
            self._provider.shutdown(timeout_millis=self.settings.shutdown_timeout_seconds * 1000)
        except Exception:  # shutdown runs among other closers; none may be skipped
            _log.exception("OTLP: shutdown failed")
