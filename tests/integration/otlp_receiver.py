"""A real OTLP metrics receiver for tests: what an OpenTelemetry Collector's `otlp` receiver accepts.

gRPC: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`. HTTP: `POST /v1/metrics` with an
`application/x-protobuf` `ExportMetricsServiceRequest`, optionally gzip-compressed. Both bind 127.0.0.1 on
free ports. Every request is decoded and kept; `points()` flattens them for assertions. The receiver can be
made slow (`delay`) or refusing (`refuse`), to test the exporter's side of a collector in trouble.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def attributes(pairs: Any) -> dict[str, Any]:
    """A repeated KeyValue field as a plain dict."""
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


@dataclass(frozen=True)
class Point:
    """One histogram data point as it arrived, with where it came from."""

    protocol: str  # "grpc", "http" or "http+gzip" (the transport it came by)
    resource: dict[str, Any]
    scope: str
    metric: str
    unit: str
    kind: str  # "histogram" or "exponential_histogram"
    temporality: int
    attributes: dict[str, Any]
    data: Any  # metrics_pb2.HistogramDataPoint or ExponentialHistogramDataPoint

    @property
    def series(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        return self.metric, tuple(sorted(self.attributes.items()))

    @property
    def instance(self) -> str:
        return str(self.resource.get("service.instance.id"))


class OtlpReceiver:
    """The two OTLP transports in front of one list of decoded requests."""

    def __init__(self) -> None:
        self.delay = 0.0  # seconds each request waits before it is answered
        self.refuse = False  # answer UNAVAILABLE / 503 instead of accepting
        self.requests: list[tuple[str, metrics_service_pb2.ExportMetricsServiceRequest]] = []
        self._lock = threading.Lock()
        self._grpc: grpc.Server | None = None
        self._http: ThreadingHTTPServer | None = None
        self.grpc_port = 0
        self.http_port = 0

    # --- transports -----------------------------------------------------------------------------------

    def _accept(self, protocol: str, request: metrics_service_pb2.ExportMetricsServiceRequest) -> bool:
        if self.delay:
            time.sleep(self.delay)
        if self.refuse:
            return False
        with self._lock:
            self.requests.append((protocol, request))
        return True

    def start(self) -> None:
        receiver = self

        class Service(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(  # the generated service's method name
                self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: grpc.ServicerContext
            ) -> metrics_service_pb2.ExportMetricsServiceResponse:
                if not receiver._accept("grpc", request):
                    context.abort(grpc.StatusCode.PERMISSION_DENIED, "refused by the test receiver")
                return metrics_service_pb2.ExportMetricsServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Service(), server)  # type: ignore[no-untyped-call]
        self.grpc_port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._grpc = server

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                if self.path != "/v1/metrics":
                    self._answer(404, b"not found")
                    return
                if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-protobuf":
                    self._answer(415, b"only application/x-protobuf")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding", "").strip().lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                request = metrics_service_pb2.ExportMetricsServiceRequest()
                try:
                    request.ParseFromString(body)
                except Exception:  # a body that is not the message is the sender's error
                    self._answer(400, b"not an ExportMetricsServiceRequest")
                    return
                if not receiver._accept("http+gzip" if encoding == "gzip" else "http", request):
                    self._answer(503, b"refused by the test receiver")
                    return
                self._answer(200, metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString())

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the exporter gave up waiting (slow mode)
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # the base class's signature
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        self.http_port = int(httpd.server_address[1])
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self._http = httpd

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=0)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def __enter__(self) -> OtlpReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def grpc_endpoint(self) -> str:
        """OTEL_EXPORTER_OTLP_ENDPOINT for gRPC."""
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """OTEL_EXPORTER_OTLP_ENDPOINT for http/protobuf (a base URL: the exporter appends /v1/metrics)."""
        return f"http://127.0.0.1:{self.http_port}"

    # --- what arrived ---------------------------------------------------------------------------------

    def points(self, **resource: Any) -> list[Point]:
        """Every histogram data point received from resources whose attributes include `resource`."""
        with self._lock:
            requests = list(self.requests)
        out: list[Point] = []
        for protocol, request in requests:
            for resource_metrics in request.resource_metrics:
                resource_attributes = attributes(resource_metrics.resource.attributes)
                if any(resource_attributes.get(k) != v for k, v in resource.items()):
                    continue
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        kind = metric.WhichOneof("data")
                        if kind not in ("histogram", "exponential_histogram"):
                            continue
                        data = getattr(metric, kind)
                        for point in data.data_points:
                            out.append(Point(
                                protocol, resource_attributes, scope_metrics.scope.name, metric.name, metric.unit,
                                kind, data.aggregation_temporality, attributes(point.attributes), point,
                            ))
        return out


def totals(points: list[Point]) -> dict[tuple[str, tuple[tuple[str, Any], ...]], Any]:
    """Per series (metric, attributes): the total since start, over every worker that pushed it.

    Cumulative points: the latest point of each (worker, series), summed over workers. Delta points: the
    sum of all of them. Explicit histograms give (count, bucket_counts, bounds, sum); exponential ones
    give (count, sum).
    """
    latest: dict[tuple[str, Any], Point] = {}
    deltas: list[Point] = []
    for point in points:
        if point.temporality == CUMULATIVE:
            key = (point.instance, point.series)
            if key not in latest or point.data.time_unix_nano >= latest[key].data.time_unix_nano:
                latest[key] = point
        else:
            deltas.append(point)
    out: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}
    for point in [*latest.values(), *deltas]:
        data = point.data
        if point.kind == "histogram":
            count, buckets, bounds, total = out.get(point.series, (0, None, tuple(data.explicit_bounds), 0.0))
            if buckets is None:
                buckets = [0] * len(data.bucket_counts)
            assert tuple(data.explicit_bounds) == bounds, f"bounds changed within {point.series}"
            buckets = [a + b for a, b in zip(buckets, data.bucket_counts, strict=True)]
            out[point.series] = (count + data.count, buckets, bounds, total + data.sum)
        else:
            count, total = out.get(point.series, (0, 0.0))
            out[point.series] = (count + data.count, total + data.sum)
    return out


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A started receiver, stopped on exit (the same as `with OtlpReceiver() as receiver`)."""
    with OtlpReceiver() as receiver:
        yield receiver
