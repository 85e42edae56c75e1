"""Every Prometheus metric perfbudget exposes, declared once, on an injected registry.

Under the production server each worker writes its samples to mmap files in PROMETHEUS_MULTIPROC_DIR
(client_python's multiprocess mode, chosen by that variable before prometheus_client is imported);
`/metrics` then builds a fresh registry with a `MultiProcessCollector` per scrape, so counts are exact
across workers.
"""

from __future__ import annotations

import os
import platform
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from . import __version__
from .beacons import REJECT_REASONS
from .config.env import MULTIPROC_ENV
from .vitals import VITALS

SIZE_BUCKETS = (64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)

def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def bind_multiprocess_values() -> None:
    """Make new metrics write to the multiprocess mmap files when PROMETHEUS_MULTIPROC_DIR is set.

    client_python picks its value class once, when `prometheus_client.values` is first imported. A worker
    forked from a parent that imported it before `perfbudget serve` set the variable would silently keep
    per-process values (and /metrics would show none of them), so each worker re-picks it before it
    declares its metrics.
    """
    if multiprocess_dir() is not None:
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


class Metrics:
    """The exporter's metrics. Build one per app with the registry to register them on."""

    def __init__(
        self,
        registry: CollectorRegistry,
        bucket_edges: Mapping[str, tuple[float, ...]],
        extra_labels: tuple[str, ...] = (),
    ) -> None:
        labels = ("route", "device", *extra_labels)
        self.labelnames = labels
        self.vitals: dict[str, Histogram] = {
            vital.name: Histogram(
                vital.metric,
                f"{vital.description} Real-user {vital.name} per page load"
                + (" in seconds." if vital.unit == "s" else " (unitless)."),
                labels,
                buckets=bucket_edges[vital.name],
                registry=registry,
            )
            for vital in VITALS.values()
        }
        self.reports_rejected = Counter(
            "perfbudget_reports_rejected_total",
            "Web Vitals reports (or whole beacons) refused, by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in REJECT_REASONS:  # every reason at 0 from the start: rate() needs the first sample
            self.reports_rejected.labels(reason)
        self.reports_duplicate = Counter(
            "perfbudget_reports_duplicate_total",
            "Reports for an (id, metric) pair already observed: later updates and repeats, not observed again.",
            ["metric"],
            registry=registry,
        )
        self.beacon_requests = Counter(
            "perfbudget_beacon_requests_total",
            "Beacon requests answered, by HTTP status code.",
            ["code"],
            registry=registry,
        )
        self.beacon_size = Histogram(
            "perfbudget_beacon_request_size_bytes",
            "Size of beacon request bodies in bytes.",
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.route_overflow = Counter(
            "perfbudget_route_overflow_total",
            "Reports counted under route=\"other\" because the distinct route cap was reached.",
            registry=registry,
        )
        self.alerts_received = Counter(
            "perfbudget_alerts_received_total",
            "Alerts received from Alertmanager's webhook, by alert status.",
            ["status"],
            registry=registry,
        )
        self.playbook_runs = Counter(
            "perfbudget_playbook_runs_total",
            "Playbook runs finished, by playbook, mode and outcome.",
            ["playbook", "mode", "outcome"],
            registry=registry,
        )
        self.auth_failures = Counter(
            "perfbudget_auth_failures_total",
            "Requests to the webhook and write endpoints refused for their credentials, by route template and "
            "reason (missing, wrong, scope, unconfigured).",
            ["endpoint", "reason"],
            registry=registry,
        )
        self.otlp_exports = Counter(
            "perfbudget_otlp_exports_total",
            "OTLP metric export attempts, by outcome (success, failure).",
            ["outcome"],
            registry=registry,
        )
        self.otlp_failed_points = Counter(
            "perfbudget_otlp_failed_data_points_total",
            "Data points in OTLP exports that failed (collector down, slow or refusing).",
            registry=registry,
        )
        self.config_reload_successful = Gauge(
            "perfbudget_config_last_reload_successful",
            "Whether the last configuration load or reload succeeded (1) or failed (0).",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.config_reload_timestamp = Gauge(
            "perfbudget_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load or reload.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.build_info = Gauge(
            "perfbudget_build_info",
            "perfbudget's version and the Python it runs on; the value is always 1.",
            ["version", "python_version"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)


def histogram_observer(child: Histogram) -> Callable[[float], None]:
    """A faster `observe` for one labelled histogram child, on client_python's own value objects.

    `Histogram.observe` checks observability and walks the buckets linearly on every call; on the beacon
    path (five observations per page view) a bisect over the same bounds, writing the same two values
    (the sum and the one non-cumulative bucket), is measurably cheaper. Exposition is unchanged.
    """
    upper: list[float] = child._upper_bounds
    buckets = child._buckets
    total = child._sum

    def observe(value: float) -> None:
        total.inc(value)
        buckets[bisect_left(upper, value)].inc(1)

    return observe


class _Derived:
    """Every family of a source registry, plus counters derived from it at scrape time.

    `perfbudget_reports_accepted_total{metric}` is exactly the vital histograms' `_count`, so it is read
    from them rather than written a second time per report on the hot path.
    """

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        names = {vital.metric: vital.name for vital in VITALS.values()}
        accepted = dict.fromkeys(names.values(), 0.0)
        for family in self._source.collect():
            vital = names.get(family.name)
            if vital is not None:
                accepted[vital] += sum(s.value for s in family.samples if s.name.endswith("_count"))
            yield family
        derived = CounterMetricFamily(
            "perfbudget_reports_accepted", "Web Vitals reports accepted and observed, by vital.", labels=["metric"]
        )
        for vital, count in accepted.items():
            derived.add_metric([vital], count)
        yield derived


def scrape_registry(app_registry: CollectorRegistry) -> CollectorRegistry:
    """The registry to render for one scrape: every worker's samples in multiprocess mode, else the app's,
    with the derived counters."""
    directory = multiprocess_dir()
    source = app_registry
    if directory is not None:
        source = CollectorRegistry()
        MultiProcessCollector(source, path=directory)  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Derived(source))
    return registry
