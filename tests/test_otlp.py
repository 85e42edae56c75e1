"""OTLP pipeline, in process: settings from the file and OTEL_* variables, instruments, views, counting, shutdown.

The real protocol (gRPC and HTTP against a receiver, through `perfbudget serve`) is in
tests/integration/test_otlp.py; here a fake exporter captures what the SDK would send.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    Histogram,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from prometheus_client import CollectorRegistry

from perfbudget.app import close_app, create_app
from perfbudget.config import Config, ConfigError, load_config
from perfbudget.config.otlp import OtlpConfig, OtlpSettings, resolve
from perfbudget.metrics import Metrics
from perfbudget.otlp import DEVICE_ATTRIBUTE, RATING_ATTRIBUTE, ROUTE_ATTRIBUTE, SCOPE, OtlpPipeline, instrument_name
from perfbudget.vitals import VITALS, bucket_edges

EDGES = {name: bucket_edges(vital) for name, vital in VITALS.items()}


# --- settings: the file, then the standard environment variables over it ----------------------------


def settings(env: dict[str, str] | None = None, **file: Any) -> OtlpSettings | None:
    return resolve(OtlpConfig.model_validate(file), env or {})


def test_otlp_is_off_without_an_endpoint() -> None:
    assert settings() is None
    assert settings({"OTEL_SERVICE_NAME": "shop"}, protocol="http/protobuf") is None


def test_the_file_alone_configures_everything() -> None:
    got = settings(
        endpoint="http://collector:4318", protocol="http/protobuf", headers={"X-Scope-OrgID": "team"},
        temporality="delta", histogram="exponential", compression="gzip", interval_seconds=15, timeout_seconds=3,
        service_name="shop-rum", resource_attributes={"deployment.environment.name": "prod"}, rating_attribute=True,
    )
    assert got == OtlpSettings(
        url="http://collector:4318/v1/metrics", protocol="http/protobuf", headers={"x-scope-orgid": "team"},
        delta=True, exponential=True, gzip=True, insecure=True, interval_seconds=15, timeout_seconds=3,
        export_timeout_seconds=30, shutdown_timeout_seconds=5, rating_attribute=True,
        resource_attributes={"service.name": "shop-rum", "deployment.environment.name": "prod"},
    )


@pytest.mark.parametrize(
    ("env", "file", "field", "expected"),
    [
        # The endpoint: generic variable over the file; the signal's own variable over both, used as-is.
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4317"}, {"endpoint": "http://file:4317"}, "url",
         "http://env:4317"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318/", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, {},
         "url", "http://env:4318/v1/metrics"),
        ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://env:443/otlp/metrics",
          "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, {},
         "url", "https://env:443/otlp/metrics"),
        # gRPC endpoints without a scheme: `insecure` decides; a scheme decides by itself.
        ({}, {"endpoint": "collector:4317"}, "url", "http://collector:4317"),
        ({}, {"endpoint": "collector:4317", "insecure": False}, "url", "https://collector:4317"),
        ({"OTEL_EXPORTER_OTLP_INSECURE": "false"}, {"endpoint": "collector:4317"}, "insecure", False),
        ({}, {"endpoint": "https://collector:4317", "insecure": True}, "insecure", False),
        # Protocol: the signal's variable over the generic one over the file.
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, {"endpoint": "http://c:4318"}, "protocol",
         "http/protobuf"),
        ({"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
         {"endpoint": "http://c:4317"}, "protocol", "grpc"),
        # Temporality and aggregation, by the standard names (case-insensitive, as the SDK reads them).
        ({"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "DELTA"}, {"endpoint": "http://c:4317"}, "delta",
         True),
        ({"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "lowmemory"}, {"endpoint": "http://c:4317"}, "delta",
         True),
        ({"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative"},
         {"endpoint": "http://c:4317", "temporality": "delta"}, "delta", False),
        ({"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION": "base2_exponential_bucket_histogram"},
         {"endpoint": "http://c:4317"}, "exponential", True),
        ({"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION": "explicit_bucket_histogram"},
         {"endpoint": "http://c:4317", "histogram": "exponential"}, "exponential", False),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}, {"endpoint": "http://c:4317"}, "gzip", True),
        # Durations: every OTEL_* duration is in milliseconds (the specification's unit).
        ({"OTEL_METRIC_EXPORT_INTERVAL": "500"}, {"endpoint": "http://c:4317"}, "interval_seconds", 0.5),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, {"endpoint": "http://c:4317"}, "timeout_seconds", 2.5),
        ({"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "700", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500"},
         {"endpoint": "http://c:4317"}, "timeout_seconds", 0.7),
        ({"OTEL_METRIC_EXPORT_TIMEOUT": "1000"}, {"endpoint": "http://c:4317"}, "export_timeout_seconds", 1.0),
        # Headers: merged per name, the environment's percent-decoded value winning.
        ({"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20abc,x-team=web"},
         {"endpoint": "http://c:4317", "headers": {"X-Team": "file", "x-keep": "1"}}, "headers",
         {"x-team": "web", "x-keep": "1", "authorization": "Bearer abc"}),
        # Resource: the file, then OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME.
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs,team=web%2Cperf"},
         {"endpoint": "http://c:4317", "resource_attributes": {"team": "file", "region": "eu"}},
         "resource_attributes", {"service.name": "from-attrs", "team": "web,perf", "region": "eu"}),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs", "OTEL_SERVICE_NAME": "shop"},
         {"endpoint": "http://c:4317"}, "resource_attributes", {"service.name": "shop"}),
    ],
)
def test_the_environment_wins_over_the_file(
    env: dict[str, str], file: dict[str, Any], field: str, expected: Any
) -> None:
    got = settings(env, **file)
    assert got is not None
    assert getattr(got, field) == expected


@pytest.mark.parametrize(
    ("name", "value", "field", "file_value"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "protocol", "grpc"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes", "delta", False),
        ("OTEL_METRIC_EXPORT_INTERVAL", "soon", "interval_seconds", 60.0),
        ("OTEL_METRIC_EXPORT_INTERVAL", "-5", "interval_seconds", 60.0),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector", "url", "http://file:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "yes", "insecure", True),
    ],
)
def test_an_invalid_variable_is_logged_and_the_file_applies(
    name: str, value: str, field: str, file_value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="perfbudget.config.otlp"):
        got = settings({name: value}, endpoint="http://file:4317")
    assert got is not None
    assert getattr(got, field) == file_value
    assert f"ignoring {name}={value!r}" in caplog.text


@pytest.mark.parametrize(
    "env", [{"OTEL_SDK_DISABLED": "true"}, {"OTEL_METRICS_EXPORTER": "none"}], ids=["sdk-disabled", "exporter-none"]
)
def test_the_standard_switches_turn_it_off(env: dict[str, str]) -> None:
    assert settings({**env, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}) is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("otlp:\n  endpoint: collector\n",
         "otlp.endpoint: 'collector': must be a URL like http://collector:4317 (or host:port for gRPC)"),
        ("otlp:\n  endpoint: ftp://collector:21\n",
         "otlp.endpoint: 'ftp://collector:21': must be an http:// or https:// URL with a host, "
         "like http://collector:4317"),
        ("otlp:\n  headers: {'x team': a}\n",
         "otlp.headers: (hidden): 'x team' is not a header name (no spaces, commas, '=', ':' or quotes)"),
        ("otlp:\n  temporality: sometimes\n",
         "otlp.temporality: 'sometimes': must be one of cumulative, delta, lowmemory"),
        ("otlp:\n  histogram: native\n", "otlp.histogram: 'native': must be one of explicit, exponential"),
        ("otlp:\n  shutdown_timeout_seconds: 120\n",
         "otlp.shutdown_timeout_seconds: 120: must be <= 60"),
        ("otlp:\n  endpoint_url: http://c:4317\n",
         "otlp.endpoint_url: 'http://c:4317': unknown key (did you mean endpoint?)"),
    ],
)
def test_an_invalid_otlp_section_is_refused_with_its_path(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "perfbudget.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.errors == [f"{path}: {error}"]


# --- the pipeline, with a fake exporter -----------------------------------------------------------------


class FakeExporter(MetricExporter):
    """Keeps every export; answers `result`, raises `error`, or blocks until shut down when `hang` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.exports: list[MetricsData] = []
        self.result = MetricExportResult.SUCCESS
        self.error: Exception | None = None
        self.hang = False
        self.shut = threading.Event()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if self.hang:
            self.shut.wait(30)
            return MetricExportResult.FAILURE
        if self.error is not None:
            raise self.error
        self.exports.append(metrics_data)
        return self.result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.shut.set()


def points(exporter: FakeExporter) -> dict[tuple[str, tuple[tuple[str, Any], ...]], Any]:
    """The last exported point of each (instrument, attributes), with its metric."""
    out: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}
    for data in exporter.exports:
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        key = (metric.name, tuple(sorted((point.attributes or {}).items())))
                        out[key] = (metric, point, scope, resource)
    return out


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry, EDGES)


@pytest.fixture
def make_pipeline(metrics: Metrics) -> Iterator[Callable[..., tuple[OtlpPipeline, FakeExporter]]]:
    made: list[OtlpPipeline] = []

    def make(max_routes: int = 200, **file: Any) -> tuple[OtlpPipeline, FakeExporter]:
        file.setdefault("endpoint", "http://127.0.0.1:1")
        file.setdefault("interval_seconds", 3600)  # exports happen when the test flushes
        resolved = resolve(OtlpConfig.model_validate(file), {})
        assert resolved is not None
        exporter = FakeExporter()
        pipeline = OtlpPipeline(resolved, EDGES, metrics, max_routes=max_routes, exporter=exporter)
        made.append(pipeline)
        return pipeline, exporter

    yield make
    for pipeline in made:
        pipeline.shutdown()


def test_each_vital_is_a_histogram_with_the_prometheus_bucket_edges(make_pipeline: Callable[..., Any]) -> None:
    pipeline, exporter = make_pipeline()
    for name, vital in VITALS.items():
        pipeline.record(name, vital.good, "/products/:id", "phone", "good")
    pipeline.force_flush()
    got = points(exporter)
    assert len(got) == len(VITALS)
    for name, vital in VITALS.items():
        metric, point, scope, _ = got[instrument_name(vital), (
            (DEVICE_ATTRIBUTE, "phone"), (ROUTE_ATTRIBUTE, "/products/:id"))]
        assert metric.name == f"perfbudget.{vital.key}"
        assert metric.unit == vital.unit
        assert scope.scope.name == SCOPE
        assert isinstance(metric.data, Histogram)
        assert metric.data.aggregation_temporality == AggregationTemporality.CUMULATIVE
        assert tuple(point.explicit_bounds) == EDGES[name]
        # A value on a threshold counts in the bucket whose upper bound it equals, as in Prometheus (le).
        assert point.count == 1
        assert point.bucket_counts[EDGES[name].index(vital.good)] == 1


def test_every_record_is_counted_once_per_series(make_pipeline: Callable[..., Any]) -> None:
    pipeline, exporter = make_pipeline()
    for i in range(300):
        pipeline.record("LCP", 1.0 + i % 3, "/", ("phone", "desktop", "tablet")[i % 3], "good")
    pipeline.force_flush()
    counts = {key[1]: value[1].count for key, value in points(exporter).items()}
    assert counts == {
        ((DEVICE_ATTRIBUTE, device), (ROUTE_ATTRIBUTE, "/")): 100 for device in ("phone", "desktop", "tablet")
    }


def test_the_rating_attribute_is_there_only_when_configured(make_pipeline: Callable[..., Any]) -> None:
    plain, plain_exporter = make_pipeline()
    rated, rated_exporter = make_pipeline(rating_attribute=True)
    for pipeline in (plain, rated):
        pipeline.record("INP", 0.1, "/", "phone", "good")
        pipeline.record("INP", 0.6, "/", "phone", "poor")
        pipeline.force_flush()
    assert {dict(key[1]).get(RATING_ATTRIBUTE) for key in points(plain_exporter)} == {None}
    assert {dict(key[1]).get(RATING_ATTRIBUTE) for key in points(rated_exporter)} == {"good", "poor"}


def test_delta_and_exponential_come_from_the_settings(make_pipeline: Callable[..., Any]) -> None:
    pipeline, exporter = make_pipeline(temporality="delta", histogram="exponential")
    pipeline.record("CLS", 0.12, "/", "desktop", "needs-improvement")
    pipeline.force_flush()
    (metric, point, _, _), = points(exporter).values()
    assert isinstance(metric.data, ExponentialHistogram)
    assert metric.data.aggregation_temporality == AggregationTemporality.DELTA
    assert point.count == 1
    assert point.sum == pytest.approx(0.12)


def test_every_route_the_normalizer_allows_gets_its_own_series(make_pipeline: Callable[..., Any]) -> None:
    # Beyond the SDK's default cardinality limit (2000) the SDK folds series into otel.metric.overflow,
    # which Prometheus would not have; the limit follows routes.max_routes instead.
    pipeline, exporter = make_pipeline(max_routes=2500)
    for i in range(2100):
        pipeline.record("TTFB", 0.3, f"/r{i}", "phone", "good")
    pipeline.force_flush()
    got = points(exporter)
    assert len(got) == 2100
    assert not any("otel.metric.overflow" in dict(key[1]) for key in got)


def test_resource_names_the_service_and_each_worker(make_pipeline: Callable[..., Any]) -> None:
    first, _ = make_pipeline(service_name="shop-rum")
    second, _ = make_pipeline(service_name="shop-rum")
    for pipeline in (first, second):
        attributes = pipeline.resource.attributes
        assert attributes["service.name"] == "shop-rum"
        assert attributes["service.version"]
        assert isinstance(attributes["process.pid"], int)
    assert first.resource.attributes["service.instance.id"] != second.resource.attributes["service.instance.id"]


def test_exports_are_counted_by_outcome_with_the_points_lost(
    make_pipeline: Callable[..., Any], registry: CollectorRegistry
) -> None:
    pipeline, exporter = make_pipeline()
    pipeline.record("LCP", 1.0, "/", "phone", "good")
    pipeline.record("LCP", 1.0, "/", "desktop", "good")
    pipeline.force_flush()
    exporter.result = MetricExportResult.FAILURE
    pipeline.force_flush()
    exporter.error = RuntimeError("exporter bug")
    pipeline.force_flush()  # must not raise either
    assert registry.get_sample_value("perfbudget_otlp_exports_total", {"outcome": "success"}) == 1
    assert registry.get_sample_value("perfbudget_otlp_exports_total", {"outcome": "failure"}) == 2
    assert registry.get_sample_value("perfbudget_otlp_failed_data_points_total") == 4


def test_record_never_raises_into_the_request(make_pipeline: Callable[..., Any]) -> None:
    pipeline, _ = make_pipeline()
    pipeline.record("FID", 0.1, "/", "phone", "good")  # no such instrument: logged, not raised
    pipeline.record("LCP", float("nan"), "/", "phone", "good")


def test_shutdown_exports_what_is_left(make_pipeline: Callable[..., Any]) -> None:
    pipeline, exporter = make_pipeline()
    pipeline.record("FCP", 1.2, "/", "phone", "good")
    pipeline.shutdown()
    pipeline.shutdown()  # idempotent: the worker's atexit and finalizer both call it
    assert [point.count for _, point, _, _ in points(exporter).values()] == [1]


def test_shutdown_is_bounded_when_the_collector_never_answers(make_pipeline: Callable[..., Any]) -> None:
    pipeline, exporter = make_pipeline(shutdown_timeout_seconds=0.5)
    exporter.hang = True
    pipeline.record("FCP", 1.2, "/", "phone", "good")
    started = time.monotonic()
    pipeline.shutdown()
    assert time.monotonic() - started < 2.0
    assert exporter.shut.is_set()  # the exporter was told to give up its retries


def test_from_config_is_none_when_otlp_is_off(metrics: Metrics) -> None:
    assert OtlpPipeline.from_config(Config(), EDGES, metrics, env={}) is None


def test_from_config_builds_a_grpc_or_http_exporter(metrics: Metrics) -> None:
    for protocol, module in (("grpc", "grpc"), ("http/protobuf", "http")):
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
        pipeline = OtlpPipeline.from_config(Config(), EDGES, metrics, env=env)
        assert pipeline is not None
        pipeline.shutdown()
        assert type(pipeline.exporter.inner).__module__ == f"opentelemetry.exporter.otlp.proto.{module}.metric_exporter"


BEACON = {"name": "LCP", "value": 1200, "id": "v1-a", "delta": 1200, "rating": "good",
          "pageUrl": "http://shop.test/products/42", "device": "tablet"}


def test_the_app_has_no_otlp_pipeline_by_default(make_config: Callable[..., Config]) -> None:
    exporter = FakeExporter()
    app = create_app(make_config(), registry=CollectorRegistry(), otlp_exporter=exporter)
    try:
        assert app.test_client().post("/api/web-vitals", json=BEACON).status_code == 200
        metrics_text = app.test_client().get("/metrics").get_data(as_text=True)
    finally:
        close_app(app)
    # A pipeline would have counted its exports (success and failure children exist from its start).
    assert "perfbudget_otlp_exports_total{" not in metrics_text
    assert exporter.exports == []


def test_the_app_feeds_accepted_reports_to_otlp(make_config: Callable[..., Config],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")  # OTLP on; the fake receives
    exporter = FakeExporter()
    app = create_app(make_config(), registry=CollectorRegistry(), otlp_exporter=exporter)
    try:
        response = app.test_client().post("/api/web-vitals", json=[BEACON, BEACON])  # the repeat is a duplicate
        assert response.status_code == 200
        assert response.get_json()["received"] == 1
    finally:
        close_app(app)  # the pipeline's shutdown makes its last export
    assert [(key, value[1].count) for key, value in points(exporter).items()] == [
        (("perfbudget.lcp", ((DEVICE_ATTRIBUTE, "tablet"), (ROUTE_ATTRIBUTE, "/products/:id"))), 1)
    ]


# --- the collector's configuration ---------------------------------------------------------------------
# No collector binary (`otelcol validate`) is available to these tests: they check the YAML's wiring.

COLLECTOR_CONFIG = Path(__file__).resolve().parent.parent / "otel-collector" / "config.yaml"


def _wired(config: dict[str, Any], pipelines: dict[str, Any]) -> None:
    for name, pipeline in pipelines.items():
        assert name.split("/")[0] == "metrics", name
        assert pipeline["receivers"] == ["otlp"], name
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{name}: {kind} {component} is not defined"
        assert pipeline["processors"][0] == "memory_limiter" and pipeline["processors"][-1] == "batch", name


def test_the_collector_receives_otlp_on_the_standard_ports_and_exports_it() -> None:
    import yaml

    config = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    assert set(config["service"]["extensions"]) <= set(config["extensions"])
    _wired(config, config["service"]["pipelines"])
    assert config["service"]["pipelines"]["metrics/debug"]["exporters"] == ["debug"]


def test_the_collectors_documented_backend_pipeline_is_wired_too() -> None:
    import yaml

    text = COLLECTOR_CONFIG.read_text()
    config = yaml.safe_load(text)
    snippet = text.split("# To push to a backend, add (and choose one exporter):\n", 1)[1]
    uncommented = "\n".join(line.replace("# ", "", 1) for line in snippet.splitlines() if line.strip())
    backend = yaml.safe_load(uncommented)
    _wired(config, backend)
    assert backend["metrics/backend"]["exporters"] == ["prometheusremotewrite"]
    assert "transform/prometheus_labels" in backend["metrics/backend"]["processors"]
    assert {"prometheusremotewrite", "otlphttp/backend"} <= set(config["exporters"])


def test_a_malformed_headers_variable_is_logged_without_its_credentials(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="perfbudget.config.otlp"):
        settings({"OTEL_EXPORTER_OTLP_HEADERS": "Authorization Bearer%20s3cr3t-credential"},
                 endpoint="http://file:4317")
    assert "OTEL_EXPORTER_OTLP_HEADERS" in caplog.text
    assert "s3cr3t-credential" not in caplog.text
