"""OTLP against the real protocol: `perfbudget serve` (granian, 2 workers) pushing to a real OTLP receiver.

The exporter is configured only through OTEL_* environment variables, as a user would. One receiver serves
the whole module; each configuration (protocol x temporality, exponential, collector in trouble) is one
exporter process, told apart in the receiver by its `service.name`.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from perfbudget.vitals import VITALS

from .otlp_receiver import CUMULATIVE, DELTA, OtlpReceiver, Point, otlp_receiver, totals
from .stack import Server, beacon, exporter, free_port, http, wait_for

pytestmark = pytest.mark.integration

# Page URL -> the route the exporter makes of it (a template with ids collapsed).
PAGES = {
    "http://shop.test/": "/",
    "http://shop.test/products/1234?ref=ad": "/products/:id",
    "http://shop.test/cart": "/cart",
}
DEVICES = ("phone", "tablet", "desktop")
# Values as beacons carry them (ms, CLS unitless), several exactly on a threshold or bucket edge: the
# bucket a value lands in is where OTLP and Prometheus could disagree ("<=" on both sides).
VALUES = {
    "LCP": (800, 2500, 3000, 4000, 4100, 12000, 61000),
    "INP": (16, 120, 200, 350, 500, 900),
    "CLS": (0, 0.02, 0.1, 0.18, 0.25, 0.6),
    "FCP": (300, 1800, 2200, 3000, 3500),
    "TTFB": (90, 800, 1000, 1800, 2500),
}
PAGE_VIEWS = 60
INTERVAL_MS = "300"


@dataclass
class Run:
    """One exporter pushing to the receiver, after the beacon stream was sent and fully exported."""

    server: Server
    service: str
    expected: Counter[tuple[str, str, str]]  # (OTLP instrument, route, device) -> reports sent
    points: list[Point]
    latencies: list[float]


def page_view(run_id: str, i: int) -> list[dict[str, Any]]:
    """One page view's beacon: the five vitals of page view `i`, deterministic."""
    page = list(PAGES)[i % len(PAGES)]
    device = DEVICES[(i // len(PAGES)) % len(DEVICES)]
    return [
        beacon(name, values[i % len(values)], f"v5-{run_id}-{i}", page=page, device=device)
        for name, values in VALUES.items()
    ]


def expected_counts(page_views: int) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for i in range(page_views):
        for report in page_view("x", i):
            counts[f"perfbudget.{VITALS[report['name']].key}", PAGES[report["pageUrl"]], report["device"]] += 1
    return counts


def send_page_views(url: str, run_id: str, page_views: int = PAGE_VIEWS, first: int = 0) -> list[float]:
    """POST page views `first`.. from 8 clients (so both workers get some); each request's latency."""

    def send(i: int) -> float:
        started = time.monotonic()
        status, body = http("POST", f"{url}/api/web-vitals", page_view(run_id, i), timeout=10)
        assert status == 200 and body["received"] == len(VALUES), body
        return time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(send, range(first, first + page_views)))


def otlp_counts(points: list[Point]) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for (metric, attributes), total in totals(points).items():
        labels = dict(attributes)
        counts[metric, labels["url.template"], labels["perfbudget.device.class"]] += total[0]
    return counts


def metric_value(server: Server, name: str, labels: dict[str, str] | None = None) -> float:
    """A sample's value in the exporter's /metrics (every worker's, summed by multiprocess mode); 0 if absent."""
    _, text = http("GET", f"{server.url}/metrics")
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                return float(sample.value)
    return 0.0


def prometheus_buckets(server: Server) -> dict[tuple[str, str, str], list[tuple[float, float]]]:
    """(OTLP instrument, route, device) -> [(le, cumulative count)] from the exporter's /metrics, +Inf last."""
    names = {vital.metric: f"perfbudget.{vital.key}" for vital in VITALS.values()}
    _, text = http("GET", f"{server.url}/metrics")
    out: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in names:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                key = (names[family.name], sample.labels["route"], sample.labels["device"])
                out.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
    return {key: sorted(buckets) for key, buckets in out.items()}


def wait_for_counts(receiver: OtlpReceiver, service: str, expected: Counter[tuple[str, str, str]],
                    timeout: float = 20.0) -> list[Point]:
    """The service's points once their totals equal `expected`; on timeout, the assertion shows the difference."""
    deadline = time.monotonic() + timeout
    while True:
        points = receiver.points(**{"service.name": service})
        if otlp_counts(points) == expected or time.monotonic() > deadline:
            assert otlp_counts(points) == expected
            return points
        time.sleep(0.2)


def otlp_env(receiver: OtlpReceiver, protocol: str, service: str, **extra: str) -> dict[str, str]:
    """The environment a user sets to push to `receiver`: standard OTEL_* variables only."""
    endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_METRIC_EXPORT_INTERVAL": INTERVAL_MS,
        "OTEL_SERVICE_NAME": service,
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
        **extra,
    }


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as rx:
        yield rx


# Both protocols in both temporalities; HTTP in delta also compresses (gzip), as collectors commonly ask.
CASES = [("grpc", "cumulative"), ("grpc", "delta"), ("http/protobuf", "cumulative"), ("http/protobuf", "delta")]


@pytest.fixture(scope="module", params=CASES, ids=[f"{p.split('/')[0]}-{t}" for p, t in CASES])
def run(request: pytest.FixtureRequest, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[Run]:
    protocol, temporality = request.param
    service = f"perfbudget-{uuid.uuid4().hex[:8]}"
    extra = {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality}
    if (protocol, temporality) == ("http/protobuf", "delta"):
        extra["OTEL_EXPORTER_OTLP_COMPRESSION"] = "gzip"
    with exporter(tmp_path_factory.mktemp("otlp"), env=otlp_env(receiver, protocol, service, **extra)) as srv:
        # The server decides which worker takes a request; send page views until both workers have pushed
        # some, so that the resource test sees two (it almost always takes the first round).
        latencies: list[float] = []
        sent = 0
        for _ in range(10):
            latencies += send_page_views(srv.url, service, PAGE_VIEWS, first=sent)
            sent += PAGE_VIEWS
            points = wait_for_counts(receiver, service, expected_counts(sent))
            if len({point.resource["process.pid"] for point in points}) == 2:
                break
        yield Run(srv, service, expected_counts(sent), points, latencies)


def test_instruments_arrive_with_their_names_units_and_temporality(run: Run, request: pytest.FixtureRequest) -> None:
    protocol, temporality = request.node.callspec.params["run"]
    transport = "grpc" if protocol == "grpc" else ("http+gzip" if temporality == "delta" else "http")
    units = {f"perfbudget.{vital.key}": vital.unit for vital in VITALS.values()}
    assert {point.metric for point in run.points} == set(units)
    for point in run.points:
        assert (point.unit, point.scope, point.kind) == (units[point.metric], "perfbudget", "histogram")
        assert point.temporality == (CUMULATIVE if temporality == "cumulative" else DELTA)
        assert point.protocol == transport


def test_attributes_are_the_route_template_and_the_device_class(run: Run) -> None:
    assert {tuple(sorted(point.attributes)) for point in run.points} == {("perfbudget.device.class", "url.template")}
    assert {point.attributes["url.template"] for point in run.points} == set(PAGES.values())
    assert {point.attributes["perfbudget.device.class"] for point in run.points} == set(DEVICES)


def test_resource_names_the_service_and_each_worker_apart(run: Run) -> None:
    from perfbudget import __version__

    instances: dict[int, set[str]] = {}
    for point in run.points:
        resource = point.resource
        assert resource["service.name"] == run.service
        assert resource["service.version"] == __version__
        assert resource["deployment.environment.name"] == "test"
        assert resource["telemetry.sdk.language"] == "python"
        instances.setdefault(resource["process.pid"], set()).add(resource["service.instance.id"])
    # Two workers pushed, each under one instance id of its own: their cumulative series never collide.
    assert len(instances) == 2
    assert all(len(ids) == 1 for ids in instances.values())
    assert len(set.union(*instances.values())) == 2


def test_every_report_is_counted_once(run: Run) -> None:
    assert otlp_counts(run.points) == run.expected
    page_views = sum(run.expected.values()) // len(VALUES)
    assert page_views >= PAGE_VIEWS
    assert metric_value(run.server, "perfbudget_reports_accepted_total", {"metric": "LCP"}) == page_views


def test_otlp_and_prometheus_agree_bucket_by_bucket(run: Run) -> None:
    prometheus = prometheus_buckets(run.server)
    sums = prometheus_sums(run.server)
    otlp = totals(run.points)
    assert len(otlp) == len(run.expected)
    for (metric, attributes), (count, buckets, bounds, total) in otlp.items():
        labels = dict(attributes)
        key = (metric, labels["url.template"], labels["perfbudget.device.class"])
        prom = prometheus[key]
        # Same upper bounds (Prometheus adds +Inf), same count in every bucket, same count and sum.
        assert bounds == tuple(le for le, _ in prom[:-1]), key
        cumulative = [sum(buckets[: i + 1]) for i in range(len(buckets))]
        assert cumulative == [value for _, value in prom], key
        assert count == prom[-1][1]
        assert total == pytest.approx(sums[key], rel=1e-9), key


def prometheus_sums(server: Server) -> dict[tuple[str, str, str], float]:
    names = {vital.metric: f"perfbudget.{vital.key}" for vital in VITALS.values()}
    _, text = http("GET", f"{server.url}/metrics")
    return {
        (names[family.name], sample.labels["route"], sample.labels["device"]): sample.value
        for family in text_string_to_metric_families(text) if family.name in names
        for sample in family.samples if sample.name.endswith("_sum")
    }


def test_exponential_histograms_by_the_standard_setting(receiver: OtlpReceiver, tmp_path: Path) -> None:
    service = f"perfbudget-{uuid.uuid4().hex[:8]}"
    env = otlp_env(receiver, "http/protobuf", service,
                   OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION="base2_exponential_bucket_histogram")
    with exporter(tmp_path, env=env) as srv:
        send_page_views(srv.url, service, 30)
        points = wait_for_counts(receiver, service, expected_counts(30))
        sums = prometheus_sums(srv)
    assert {point.kind for point in points} == {"exponential_histogram"}
    for (metric, attributes), (_, total) in totals(points).items():
        labels = dict(attributes)
        assert total == pytest.approx(sums[metric, labels["url.template"], labels["perfbudget.device.class"]])
    for point in points:
        data = point.data
        assert data.zero_count + sum(data.positive.bucket_counts) == data.count
        assert -10 <= data.scale <= 20


def test_shutdown_exports_what_the_interval_has_not(receiver: OtlpReceiver, tmp_path: Path) -> None:
    service = f"perfbudget-{uuid.uuid4().hex[:8]}"
    env = otlp_env(receiver, "grpc", service, OTEL_METRIC_EXPORT_INTERVAL="600000",
                   OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="delta")
    with exporter(tmp_path, env=env) as srv:
        send_page_views(srv.url, service, 12)
        assert receiver.points(**{"service.name": service}) == []  # nothing before the (10 minute) interval
    assert otlp_counts(receiver.points(**{"service.name": service})) == expected_counts(12)


# --- the collector in trouble ---------------------------------------------------------------------------

TROUBLE = {
    # Nothing listens: gRPC gets connection refused, and retries with backoff for its 2 s timeout.
    "down": ("grpc", {"OTEL_EXPORTER_OTLP_TIMEOUT": "2000"}),
    # The collector takes 3 s to answer; the exporter gives up after 1 s.
    "slow": ("http/protobuf", {"OTEL_EXPORTER_OTLP_TIMEOUT": "1000"}),
    # The collector answers PERMISSION_DENIED (not retryable), at once.
    "refusing": ("grpc", {"OTEL_EXPORTER_OTLP_TIMEOUT": "2000"}),
}


@pytest.mark.parametrize("trouble", list(TROUBLE))
def test_a_collector_in_trouble_never_slows_a_beacon_and_the_loss_is_counted(trouble: str, tmp_path: Path) -> None:
    protocol, extra = TROUBLE[trouble]
    service = f"perfbudget-{uuid.uuid4().hex[:8]}"
    with otlp_receiver() as troubled:
        troubled.delay = 3.0 if trouble == "slow" else 0.0
        troubled.refuse = trouble == "refusing"
        env = otlp_env(troubled, protocol, service, **extra)
        if trouble == "down":
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
        with exporter(tmp_path, env=env) as srv:
            latencies = send_page_views(srv.url, service)
            # Keep sending while exports fail: the reader thread is blocked in its retries meanwhile.
            wait_for(lambda: metric_value(srv, "perfbudget_otlp_exports_total", {"outcome": "failure"}) >= 2, 20,
                     what="two failed exports counted")
            latencies += send_page_views(srv.url, service + "-more", 20)
            failed_points = metric_value(srv, "perfbudget_otlp_failed_data_points_total")
            succeeded = metric_value(srv, "perfbudget_otlp_exports_total", {"outcome": "success"})
            accepted = metric_value(srv, "perfbudget_reports_accepted_total", {"metric": "CLS"})
            stopping = time.monotonic()
        stopped = time.monotonic() - stopping
        output = srv.output()
    # Every beacon answered 200 (send_page_views checks), promptly: an export blocked on the collector
    # would show as a request taking the exporter's timeout (1 to 2 s here).
    assert max(latencies) < 0.5, sorted(latencies)[-5:]
    assert statistics.median(latencies) < 0.1
    # The loss is counted: each failed export's data points (a cumulative export carries every series).
    assert failed_points >= len(expected_counts(PAGE_VIEWS))
    assert succeeded == 0
    assert accepted == PAGE_VIEWS + 20  # Prometheus counted everything regardless
    # Workers stop within the OTLP shutdown bound (5 s) even though their last export cannot succeed.
    assert stopped < 8, output
    assert "Traceback" not in output, output
