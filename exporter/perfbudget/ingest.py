"""The hot path: validated reports -> dedup -> route and device -> Prometheus (+ LCP subparts and INP phases,
+ OTLP, + attribution, + page URL).

It runs for every page view of every user, so everything that can be decided once is decided in
`__init__`: label children are cached per label set, routes are matched by one compiled regex and cached,
the cross-worker dedup table is consulted once per beacon, not once per report, and the client's address
is hashed once per beacon for the distinct-clients sketch (perfbudget.distinct_clients).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .beacon_alerts import BeaconAlerts
from .beacons import NAVIGATION_TYPES, Report
from .config.releases import OTHER_VERSION
from .dedup import SeenTable, fingerprint
from .devices import device_class
from .distinct_clients import ClientSketch
from .metrics import Metrics
from .page_urls import SiteUrls
from .releases import Releases
from .routes import RouteNormalizer
from .sites import SiteResolver
from .subparts import BREAKDOWNS, split


class Recorder(Protocol):
    """A second pipeline fed with every accepted report (the OTLP one)."""

    def record(self, vital: str, value: float, route: str, device: str, rating: str) -> None: ...


class AttributionSink(Protocol):
    def record(self, vital: str, route: str, attribution: dict[str, Any]) -> None: ...

    def record_page(self, route: str, url: str) -> None: ...


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)  # beacon_alerts: the answer's `alerts`


@dataclass(slots=True)
class Client:
    """What the request itself says about the page view, for reports that do not say it themselves."""

    referer: str | None = None
    user_agent: str | None = None
    ch_ua_mobile: str | None = None
    # The client's address (as the rate limit keys it, server.trusted_proxy_hops applied): hashed into the
    # distinct-clients sketch, never stored.
    address: str | None = None
    # The Origin header: which site's page sent the beacon (page_urls.SiteUrls).
    origin: str | None = None


class Ingestor:
    def __init__(
        self,
        metrics: Metrics,
        routes: RouteNormalizer,
        seen: SeenTable,
        attribution: AttributionSink | None = None,
        otlp: Recorder | None = None,
        navigation_type_label: bool = False,
        clients: ClientSketch | None = None,
        alerts: BeaconAlerts | None = None,
        pages: SiteUrls | None = None,
        sites: SiteResolver | None = None,
        releases: Releases | None = None,
        breakdowns: bool = True,
    ) -> None:
        self._metrics = metrics
        # LCP's subparts and INP's phases recorded (beacons.breakdowns); off, none of their series appear.
        self._breakdowns = breakdowns
        self._routes = routes
        self._seen = seen
        self._attribution = attribution
        self._otlp = otlp
        self._nav_label = navigation_type_label
        self._clients = clients
        self._alerts = alerts
        self._sites = sites  # the optional site and version labels (after navigation_type), when configured
        self._releases = releases
        self._version_slots: dict[str, int] = {}  # per vital: series of a known version this process allocated
        # Page URLs are kept (cleaned) only with an attribution store to keep them in.
        self._pages = (pages, attribution) if pages is not None and attribution is not None else None
        self._observers: dict[tuple[str, ...], Callable[[float], None]] = {}
        self._duplicate = metrics.duplicates
        self._accepted = metrics.accepted
        self._inp_missing: dict[str, Callable[[], None]] = {}  # per route: perfbudget_inp_missing_total
        # Per (vital, route, device[, site]): the observers of the vital's parts (subparts.BREAKDOWNS), in order.
        self._part_observers: dict[tuple[str, ...], tuple[Callable[[float], None], ...]] = {}

    def _observer(self, name: str, labels: tuple[str, ...]) -> Callable[[float], None]:
        """The store's observer for one series. The table has a slot for every label tuple the bounded
        labels allow (metrics.vital_specs), so a refusal is a bug: it is raised, never hidden."""
        observe = self._metrics.vitals[name].observer(labels)
        if observe is None:
            raise RuntimeError(f"the metrics store has no slot left for {name} {labels}: its capacity must "
                               "cover every route, device and navigation type")
        return observe

    def _version_observer(self, name: str, labels: tuple[str, ...]) -> Callable[[float], None] | None:
        """None when the store has (now) a slot for `labels`: the caller caches its observer. Else, the release
        being one the slab has no room left for in this run (metrics.vital_specs: `version_room` slots are for
        known versions, the rest for `other`), an observer of the same series under version `other` that counts
        each report as slab_full, never cached (a pattern's versions are many)."""
        if labels[-1] == OTHER_VERSION:
            return None
        taken = self._version_slots.get(name, 0)
        if taken < self._metrics.version_room and self._metrics.vitals[name].observer(labels[1:]) is not None:
            self._version_slots[name] = taken + 1
            return None
        observe = self._observer(name, (*labels[1:-1], OTHER_VERSION))
        full = self._metrics.version_other["slab_full"]

        def observe_as_other(value: float) -> None:
            full()
            observe(value)
        return observe_as_other

    def _record_parts(self, name: str, value: float, attribution: dict[str, Any], labels: tuple[str, ...]) -> None:
        """LCP's subparts or INP's phases of an accepted report (subparts.split checks them); a breakdown it
        refuses is counted by reason and not recorded. `labels`: (vital, route, device[, site])."""
        breakdown = BREAKDOWNS[name]
        parts = split(breakdown, attribution, value)
        if parts is None:
            return
        if isinstance(parts, str):
            self._metrics.subparts_dropped[name, parts]()
            return
        observers = self._part_observers.get(labels)
        if observers is None:
            family = self._metrics.breakdowns[name]
            found = [family.observer((*labels[1:], part)) for part in breakdown.names]
            if any(observe is None for observe in found):
                raise RuntimeError(f"the metrics store has no slot left for {breakdown.metric} {labels[1:]}: its "
                                   "capacity must cover every route, device and site")
            observers = self._part_observers[labels] = tuple(o for o in found if o is not None)
        for observe, part in zip(observers, parts, strict=True):
            observe(part)

    def _count_inp_missing(self, route: str) -> None:
        increment = self._inp_missing.get(route)
        if increment is None:
            found = self._metrics.inp_missing.incrementer((route,))
            if found is None:
                raise RuntimeError(f"the metrics store has no slot left for {route!r} in the INP-missing counter: "
                                   "its capacity must cover every route")
            increment = self._inp_missing[route] = found
        increment()

    def record(self, reports: list[Report], client: Client) -> IngestResult:
        """Observe each report not seen before (one value per (id, name), across workers)."""
        result = IngestResult()
        if not reports:
            return result
        fresh = self._seen.first_sightings([fingerprint(r.id, r.vital.name) for r in reports])
        device_default: str | None = None
        last_url: str | None = None  # a batch is one page view: route its URL once
        route = ""
        clients = self._clients if client.address else None
        hashed = clients.hash(client.address) if clients is not None and client.address else 0
        for report, is_new in zip(reports, fresh, strict=True):
            name = report.vital.name
            if not is_new:
                self._duplicate[name]()
                result.duplicates += 1
                continue
            url = report.page_url or client.referer
            if url != last_url or not route:
                route, overflowed = self._routes.route(url)
                last_url = url
                if overflowed:
                    self._metrics.route_overflow()
                if clients is not None:
                    slot = self._routes.slot(route)
                    if slot is not None:
                        clients.add(slot, hashed)
                if self._pages is not None and url:
                    seen = self._pages[0].clean(url, client.origin)
                    if seen is not None:
                        self._pages[1].record_page(route, seen)
            if report.inp_missing:
                self._count_inp_missing(route)
            if report.device_hint is not None:
                device = report.device_hint
            else:
                if device_default is None:
                    device_default = device_class(None, client.ch_ua_mobile, client.user_agent)
                device = device_default
            labels: tuple[str, ...] = (name, route, device)
            if self._nav_label:
                nav = report.navigation_type
                labels = (*labels, nav if nav in NAVIGATION_TYPES else "unknown")
            site = ""
            if self._sites is not None:
                site, why = self._sites.site(report.site, url, client.origin)
                if why is not None:
                    self._metrics.site_other[why]()
                labels = (*labels, site)
            if self._releases is not None:
                version, why_not = self._releases.version(report.version)
                if why_not is not None:
                    self._metrics.version_other[why_not]()
                labels = (*labels, version)
            observe = self._observers.get(labels)
            if observe is None:
                observe = self._version_observer(name, labels) if self._releases is not None else None
                if observe is None:
                    observe = self._observers[labels] = self._observer(name, labels[1:])
            value = report.value
            observe(value)
            self._accepted[name]()
            result.accepted += 1
            rating = report.vital.rate(value)
            if self._alerts is not None:
                alert = self._alerts.alert(report.vital, value, rating, route, device)
                if alert is not None:
                    result.alerts.append(alert)
            if self._otlp is not None:
                self._otlp.record(name, value, route, device, rating)
            if report.attribution is not None:
                if self._breakdowns and name in BREAKDOWNS:
                    part_labels = (name, route, device, site) if self._sites is not None else (name, route, device)
                    self._record_parts(name, value, report.attribution, part_labels)
                if self._attribution is not None:
                    self._attribution.record(name, route, report.attribution)
        return result
