"""Every Prometheus metric perfbudget exposes, declared once.

Two stores, one exposition:
- what the beacon endpoint touches on every request (the vitals histograms, the accepted, rejected and
  duplicate counts, beacon sizes and status codes, route overflow) and perfbudget's own HTTP server
  histogram (http_metrics.py) live in `perfbudget.store`: a
  shared-memory table with one slab per worker, read whole by any worker's scrape and by the summary;
- everything else (alerts, playbook runs, auth failures, OTLP outcomes, reload status, build info) stays
  on client_python, in its multiprocess mode under the production server (PROMETHEUS_MULTIPROC_DIR).

`Metrics.registry` holds both (the store through its collector), for tests and for the development
server; `/metrics` renders client_python's part with client_python and the store's part with the store's
own byte-identical exposition, streamed (web/ops.py).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client import Histogram as ClientHistogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.openmetrics import exposition as openmetrics

from . import __version__
from .beacons import NAVIGATION_TYPES, REJECT_REASONS
from .config.env import MULTIPROC_ENV
from .devices import DEVICES
from .distinct_clients import RouteClients
from .http_metrics import HTTP_DURATION, HttpMetrics, http_spec
from .releases import VERSION_OTHER_REASONS
from .routes import OTHER, UNKNOWN_ROUTE
from .sites import SITE_OTHER_REASONS
from .store import Counter as StoreCounter
from .store import FamilySpec, Histogram, Increment, Reader, StoreCollector, Table, exposition
from .subparts import BREAKDOWNS, DROP_REASONS, PART_BUCKETS, SUBPARTS_DROPPED
from .vitals import VITALS

_EOF = b"# EOF\n"
SIZE_BUCKETS = (64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
#: HTTP status codes the beacon endpoint answers with.
BEACON_CODES = ("200", "204", "400", "403", "405", "413", "429")
#: Route labels beyond the configured cap that the route normalizer can still produce.
SPECIAL_ROUTES = (OTHER, UNKNOWN_ROUTE)
#: Seconds from an alert's start to its resolution: a minute to a week.
RESOLUTION_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800)
#: The distinct-clients gauge (perfbudget.distinct_clients), which budgets' alert rules guard on.
DISTINCT_CLIENTS = "perfbudget_route_distinct_clients"
#: Reports whose site or version label is `other`, by reason (only with that label on).
SITE_OTHER = "perfbudget_site_other_total"
VERSION_OTHER = "perfbudget_version_other_total"
#: Page views with an interaction and no INP (beacon.js), per route.
INP_MISSING = "perfbudget_inp_missing_total"


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


class _Forward:
    """Every family of another registry: the client_python part, registered beside the store's collector."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield from self._source.collect()


class _DistinctClients:
    """perfbudget_route_distinct_clients from the shared sketch: one answer whatever the worker scraped."""

    def __init__(self, samples: Callable[[], Iterable[tuple[str, str, int]]]) -> None:
        self._samples = samples

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            DISTINCT_CLIENTS,
            "Distinct client addresses that sent beacons for the route over the window (a HyperLogLog "
            "estimate of keyed hashes, about 5% error; routes without clients are not listed).",
            labels=("route", "window"))
        for route, window, value in self._samples():
            family.add_metric((route, window), value)
        yield family


def vital_labelnames(navigation_type_label: bool, sites: int = 0, versions: int = 0) -> tuple[str, ...]:
    """The vitals histograms' labels: route and device, then each optional label that is on."""
    return ("route", "device", *(("navigation_type",) if navigation_type_label else ()),
            *(("site",) if sites else ()), *(("version",) if versions else ()))


def vital_specs(bucket_edges: Mapping[str, tuple[float, ...]], max_routes: int,
                navigation_type_label: bool, *, sites: int = 0, versions: int = 0) -> list[FamilySpec]:
    """The five vitals histograms, with a slot for every label tuple the bounded labels allow.

    `sites` configured sites add a `site` label (x sites + 1 with `other`); `versions` kept releases add a
    `version` label with room for twice versions + 1 values (`other` included): a release announced in a run
    takes new slots while the ones it displaced keep theirs, so one whole turnover of releases fits before a
    new version is counted as `other` (slab_full) until the next restart. Of that room, one slot per label
    tuple without the version is `other`'s (`version_room`), so `other` always has its slot.

    Each slab holds (max_routes + 2 special routes) x 4 devices (x 8 navigation types when that label is on)
    series per vital: every label tuple the bounded labels allow has its slot, so none is ever refused.
    """
    labels = vital_labelnames(navigation_type_label, sites, versions)
    navs = len(NAVIGATION_TYPES) + 1 if navigation_type_label else 1
    capacity = (max_routes + len(SPECIAL_ROUTES)) * len(DEVICES) * navs * (sites + 1 if sites else 1)
    capacity *= 2 * versions + 1 if versions else 1
    return [
        FamilySpec.histogram(
            vital.metric,
            f"{vital.description} Real-user {vital.name} per page load"
            + (" in seconds." if vital.unit == "s" else " (unitless)."),
            labels,
            bucket_edges[vital.name],
            capacity=capacity,
            key_bytes=256,
        )
        for vital in VITALS.values()
    ]


def breakdown_specs(max_routes: int, sites: int = 0) -> list[FamilySpec]:
    """LCP's subparts and INP's phases (subparts.BREAKDOWNS), labels route, device[, site] and the part, with
    a slot for every label tuple: (max_routes + 2 special routes) x 4 devices (x sites + 1 with `other`) x the
    vital's parts. No navigation type or version: what a release changes is read from the vitals, and
    these say why a route is slow. One bucket ladder for both (subparts.PART_BUCKETS); and the count of
    breakdowns refused, by vital and reason (every series reserved)."""
    out = []
    for breakdown in BREAKDOWNS.values():
        labels = ("route", "device", *(("site",) if sites else ()), breakdown.label)
        capacity = (max_routes + len(SPECIAL_ROUTES)) * len(DEVICES) * (sites + 1 if sites else 1)
        out.append(FamilySpec.histogram(
            breakdown.metric,
            f"Real-user {breakdown.vital} per page load split into its {breakdown.label}s (web-vitals' "
            f"attribution: {', '.join(breakdown.names)}), in seconds.",
            labels, PART_BUCKETS, capacity=capacity * len(breakdown.parts), key_bytes=256))
    out.append(FamilySpec.counter(
        SUBPARTS_DROPPED,
        "Reports whose LCP subparts or INP phases were not recorded (their vital was), by reason: missing (some "
        "parts absent), not_a_number, out_of_range (negative or over the vital's bound), inconsistent (the "
        "parts do not add up to the value).", ("vital", "reason"),
        reserved=[(vital, reason) for vital in BREAKDOWNS for reason in DROP_REASONS]))
    return out


def hot_path_specs(max_routes: int = 200) -> list[FamilySpec]:
    """The counters and the size histogram the beacon endpoint touches per request, every series reserved
    (the per-route counter has a slot for every route the route table allows)."""
    vitals = [(name,) for name in VITALS]
    return [
        FamilySpec.counter("perfbudget_reports_accepted_total",
                           "Web Vitals reports accepted and observed, by vital.", ("metric",), reserved=vitals),
        FamilySpec.counter("perfbudget_reports_rejected_total",
                           "Web Vitals reports (or whole beacons) refused, by reason.", ("reason",),
                           reserved=[(reason,) for reason in REJECT_REASONS]),
        FamilySpec.counter("perfbudget_reports_duplicate_total",
                           "Reports for an (id, metric) pair already observed: later updates and repeats, "
                           "not observed again.", ("metric",), reserved=vitals),
        FamilySpec.counter("perfbudget_beacon_requests_total", "Beacon requests answered, by HTTP status code.",
                           ("code",), reserved=[(code,) for code in BEACON_CODES]),
        FamilySpec.histogram("perfbudget_beacon_request_size_bytes", "Size of beacon request bodies in bytes.",
                             (), SIZE_BUCKETS, capacity=1, reserved=[()]),
        FamilySpec.counter("perfbudget_route_overflow_total",
                           "Reports counted under route=\"other\" because the distinct route cap was reached.",
                           (), capacity=1, reserved=[()]),
        FamilySpec.counter(INP_MISSING,
                           "Page views that saw an interaction but had reported no INP by the end of their hide "
                           "(beacon.js's inpMissing): the visits INP misses, by route.",
                           ("route",), capacity=max_routes + len(SPECIAL_ROUTES)),
    ]


def version_room(max_routes: int, navigation_type_label: bool, sites: int, versions: int) -> int:
    """Slots of a vitals family's capacity (vital_specs) for series of a known version, not `other`."""
    navs = len(NAVIGATION_TYPES) + 1 if navigation_type_label else 1
    return (max_routes + len(SPECIAL_ROUTES)) * len(DEVICES) * navs * (sites + 1 if sites else 1) * 2 * versions


def label_other_specs(sites: bool, versions: bool) -> list[FamilySpec]:
    """The counts of page views whose site, and of reports whose version, went to `other`, by reason: each
    only when its label is on (every series reserved)."""
    out = []
    if sites:
        out.append(FamilySpec.counter(SITE_OTHER, "Reports counted under site=\"other\", by reason (unknown_host: "
                                      "no configured site lists the page's host; no_host: the report names none; "
                                      "unknown_site_field: its site field names no configured site).", ("reason",),
                                      reserved=[(reason,) for reason in SITE_OTHER_REASONS]))
    if versions:
        out.append(FamilySpec.counter(VERSION_OTHER, "Reports counted under version=\"other\", by reason "
                                      "(unknown_version: not a known release; no_version: the report names none; "
                                      "slab_full: the store has no slot left for the release in this run).",
                                      ("reason",), reserved=[(reason,) for reason in VERSION_OTHER_REASONS]))
    return out


def store_specs(bucket_edges: Mapping[str, tuple[float, ...]], max_routes: int = 200,
                navigation_type_label: bool = False, sites: int = 0, versions: int = 0) -> list[FamilySpec]:
    """Every family of the shared-memory store, in slab order, for a configuration (what `Metrics` lays out)."""
    return [*vital_specs(bucket_edges, max_routes, navigation_type_label, sites=sites, versions=versions),
            *label_other_specs(sites > 0, versions > 0), *hot_path_specs(max_routes),
            *breakdown_specs(max_routes, sites), http_spec()]


class Metrics:
    """The exporter's metrics. Build one per app (so per worker, after the fork) on the registry given."""

    def __init__(
        self,
        registry: CollectorRegistry,
        bucket_edges: Mapping[str, tuple[float, ...]],
        *,
        max_routes: int = 200,
        navigation_type_label: bool = False,
        sites: int = 0,
        versions: int = 0,
        directory: Path | None = None,
        epoch: int = 0,
    ) -> None:
        self.registry = registry
        self.labelnames = vital_labelnames(navigation_type_label, sites, versions)
        self.table = Table(store_specs(bucket_edges, max_routes, navigation_type_label, sites, versions), directory,
                           epoch=epoch)
        self.reader = Reader(self.table)
        self.vitals: dict[str, Histogram] = {name: self.table.histogram(v.metric) for name, v in VITALS.items()}
        self.accepted: dict[str, Increment] = _incrementers(self.table.counter("perfbudget_reports_accepted_total"),
                                                            VITALS)
        self.duplicates: dict[str, Increment] = _incrementers(
            self.table.counter("perfbudget_reports_duplicate_total"), VITALS)
        self.rejected: dict[str, Increment] = _incrementers(self.table.counter("perfbudget_reports_rejected_total"),
                                                            REJECT_REASONS)
        self.beacon_requests: dict[str, Increment] = _incrementers(
            self.table.counter("perfbudget_beacon_requests_total"), BEACON_CODES)
        size = self.table.histogram("perfbudget_beacon_request_size_bytes").observer(())
        overflow = self.table.counter("perfbudget_route_overflow_total").incrementer(())
        assert size is not None and overflow is not None  # reserved series always have their slot
        self.beacon_size = size
        self.http = HttpMetrics(self.table.histogram(HTTP_DURATION))  # perfbudget's own HTTP server requests
        self.route_overflow = overflow
        # Slots of each vitals family the releases' versions may take, the rest left to version "other".
        self.version_room = version_room(max_routes, navigation_type_label, sites, versions)
        self.site_other: dict[str, Increment] = (
            _incrementers(self.table.counter(SITE_OTHER), SITE_OTHER_REASONS) if sites else {})
        self.version_other: dict[str, Increment] = (
            _incrementers(self.table.counter(VERSION_OTHER), VERSION_OTHER_REASONS) if versions else {})
        self.inp_missing = self.table.counter(INP_MISSING)  # .incrementer((route,)), cached by the ingestor
        # LCP's subparts and INP's phases per vital (observers cached by the ingestor), and their refusals.
        self.breakdowns: dict[str, Histogram] = {name: self.table.histogram(b.metric) for name, b in BREAKDOWNS.items()}
        dropped = self.table.counter(SUBPARTS_DROPPED)
        self.subparts_dropped: dict[tuple[str, str], Increment] = {}
        for vital in BREAKDOWNS:
            for reason in DROP_REASONS:
                increment = dropped.incrementer((vital, reason))
                assert increment is not None  # reserved series always have their slot
                self.subparts_dropped[vital, reason] = increment
        self._client = CollectorRegistry()
        self._shared: list[_DistinctClients] = []  # read shared memory themselves: not per worker
        self.distinct_clients: RouteClients | None = None
        registry.register(_Forward(self._client))
        registry.register(StoreCollector(self.reader))
        client = self._client
        self.alerts_received = Counter(
            "perfbudget_alerts_received_total",
            "Alerts received from Alertmanager's webhook, by alert status.",
            ["status"],
            registry=client,
        )
        self.playbook_runs = Counter(
            "perfbudget_playbook_runs_total",
            "Playbook runs finished, by playbook, mode and outcome.",
            ["playbook", "mode", "outcome"],
            registry=client,
        )
        self.playbook_resolution = ClientHistogram(
            "perfbudget_playbook_resolution_seconds",
            "Seconds from an alert's startsAt to its resolution, per playbook that ran for it, by outcome "
            "(executed: an execute ran; by_hand: only a dry run did, so a person fixed it).",
            ["playbook", "outcome"],
            buckets=RESOLUTION_BUCKETS,
            registry=client,
        )
        self.playbook_bytes_saved = Counter(
            "perfbudget_playbook_bytes_saved_total",
            "Bytes the applied actions of executes saved (their real results), by playbook.",
            ["playbook"],
            registry=client,
        )
        self.playbook_outcomes = Counter(
            "perfbudget_playbook_outcomes_total",
            "Executes by verdict, once settled: improved (within budget after), not_improved, "
            "not_enough_data, failed, rolled_back, unmeasured (the playbook targets no Web Vital).",
            ["playbook", "outcome"],
            registry=client,
        )
        self.auth_failures = Counter(
            "perfbudget_auth_failures_total",
            "Requests to the webhook and write endpoints refused for their credentials, by route template and "
            "reason (missing, wrong, scope, unconfigured).",
            ["endpoint", "reason"],
            registry=client,
        )
        self.otlp_exports = Counter(
            "perfbudget_otlp_exports_total",
            "OTLP metric export attempts, by outcome (success, failure).",
            ["outcome"],
            registry=client,
        )
        self.otlp_failed_points = Counter(
            "perfbudget_otlp_failed_data_points_total",
            "Data points in OTLP exports that failed (collector down, slow or refusing).",
            registry=client,
        )
        self.config_reload_successful = Gauge(
            "perfbudget_config_last_reload_successful",
            "Whether the last configuration load or reload succeeded (1) or failed (0).",
            registry=client,
            multiprocess_mode="livemin",
        )
        self.config_reload_timestamp = Gauge(
            "perfbudget_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load or reload.",
            registry=client,
            multiprocess_mode="livemax",
        )
        self.beacon_sample_rate = Gauge(
            "perfbudget_beacon_sample_rate",
            "The share of page views /beacon.js reports (beacons.sample_rate, written into the script it "
            "serves; beacons cannot claim another): divide counts by it to estimate all page views.",
            registry=client,
            multiprocess_mode="livemax",
        )
        self.beacon_sample_rate.set(1)
        self.build_info = Gauge(
            "perfbudget_build_info",
            "perfbudget's version and the Python it runs on; the value is always 1.",
            ["version", "python_version"],
            registry=client,
            multiprocess_mode="max",
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)

    def expose_distinct_clients(self, clients: RouteClients) -> None:
        """Expose perfbudget_route_distinct_clients from the shared sketch, and keep it for readers (an
        execute from an alert checks the route's count in `distinct_clients`)."""
        self.distinct_clients = clients
        collector = _DistinctClients(clients.samples)
        self._shared.append(collector)
        self._client.register(collector)

    def client_registry(self) -> CollectorRegistry:
        """client_python's part of /metrics: every worker's samples in multiprocess mode, else this app's."""
        directory = multiprocess_dir()
        if directory is None:
            return self._client
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        for collector in self._shared:
            registry.register(collector)
        return registry

    def scrape_registry(self) -> CollectorRegistry:
        """Everything /metrics shows, as one client_python registry (the slow, general rendering)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Forward(self.client_registry()))
        registry.register(StoreCollector(self.reader))
        return registry

    def exposition(self, accept: str) -> tuple[Iterator[bytes], str]:
        """/metrics for an Accept header: the body in chunks, and its content type.

        Prometheus's text format and OpenMetrics 1.0 (what Prometheus asks for) take the fast path: the
        client_python part rendered by client_python, the store's part by the store, byte for byte what
        client_python would render for it. Any other negotiated format renders everything with
        client_python."""
        encoder, content_type = choose_encoder(accept)
        if encoder is generate_latest:
            return chain([generate_latest(self.client_registry())], exposition.text(self.reader)), content_type
        if getattr(encoder, "func", None) is openmetrics.generate_latest and getattr(encoder, "keywords", None) == {
                "escaping": openmetrics.UNDERSCORES, "version": "1.0.0"}:
            head = openmetrics.generate_latest(self.client_registry())[: -len(_EOF)]
            return chain([head], exposition.openmetrics(self.reader), [_EOF]), content_type
        return iter([encoder(self.scrape_registry())]), content_type

    def close(self) -> None:
        self.reader.close()
        self.table.close()


def _incrementers(family: StoreCounter, values: Mapping[str, object] | tuple[str, ...]) -> dict[str, Increment]:
    out: dict[str, Increment] = {}
    for value in values:
        inc = family.incrementer((value,))
        assert inc is not None  # reserved series always have their slot
        out[value] = inc
    return out
