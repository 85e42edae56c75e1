"""The application factory: builds the exporter's parts once per app (so once per worker process), gives
each web feature what it needs through its `init_app`, and puts the beacon fast path in front.

Nothing is looked up from a shared bag at request time: each blueprint keeps the typed state its
`init_app` was given (flaskr's pattern), and what tests need to replace (the registry, the OTLP exporter,
the clock) is a parameter here.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from flask import Flask
from prometheus_client import CollectorRegistry

from .analytics import Sources
from .analytics.previews import latest_preview
from .analytics.sources import LocalVitals
from .answer_cache import AnswerCache
from .attribution import AttributionStore
from .beacon_alerts import BeaconAlerts
from .budgets.model import load_budgets, parse_duration
from .budgets.overrides import overrides_path, read_overrides
from .config import Config, load_config
from .config.env import EPOCH_ENV
from .db import PostgresDatabase
from .dedup import SeenTable
from .distinct_clients import ClientSketch, RouteClients
from .eventlog import configure as configure_event_log
from .http_metrics import FlaskTiming
from .ingest import Ingestor
from .metric_minutes import LoggedSnapshotStore
from .metrics import Metrics, multiprocess_dir
from .monitoring import HostSampler, LocalMonitor, Monitoring, PrometheusMonitor
from .otlp import OtlpPipeline
from .page_urls import SiteUrls
from .playbooks import build_runner, load_playbooks, suggest_fix
from .playbooks.outcome_metrics import OutcomeRecorder
from .playbooks.outcomes import Outcomes
from .prometheus_windows import summary_windows
from .releases import Releases, ReleaseStore
from .reload import Reloader, histogram_edges
from .routes import RouteNormalizer, RouteTable
from .service_history import ServiceHistory
from .sites import SiteResolver
from .summary import SummaryService
from .thresholds import service_thresholds
from .web import alerts, analytics, auth, console, errors, monitoring, ops, outcomes, perffix, summary, writes
from .web import releases as release_api
from .web import thresholds as performance_alerts
from .web.beacons import BeaconEndpoint

if TYPE_CHECKING:  # the SDK is imported only when OTLP is configured (otlp.py)
    from opentelemetry.sdk.metrics.export import MetricExporter

log = logging.getLogger(__name__)
_LIFETIME = "perfbudget.lifetime"


class Lifetime:
    """What an app must close when it goes: stores, threads, the OTLP pipeline; newest first."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], None]] = []

    def add(self, close: Callable[[], None]) -> None:
        self._closers.append(close)

    def close(self) -> None:
        """Run every closer once, newest first (runs stop before the stores they read); idempotent."""
        while self._closers:
            close = self._closers.pop()
            try:
                close()
            except Exception:  # shutdown must finish every closer
                log.exception("closing %r", close)


def close_app(app: Flask) -> None:
    """Stop an app's threads and close its stores (a worker's exit, a test's teardown, a dev reload)."""
    cast(Lifetime, app.extensions[_LIFETIME]).close()


def _shared_file(name: str) -> Path | None:
    directory = multiprocess_dir()
    return Path(directory) / name if directory else None


def create_app(
    config: Config | None = None,
    *,
    registry: CollectorRegistry | None = None,
    config_file: Path | str | None = None,
    otlp_exporter: MetricExporter | None = None,
    clock: Callable[[], float] = time.time,
    swap: Callable[[Config], None] | None = None,
) -> Flask:
    """Build the exporter. Tests pass their own `config`, a fresh `registry` and, where they need them, an
    OTLP exporter to capture what would be pushed and a clock; the development server passes `swap`."""
    config_path = Path(config_file) if config_file is not None else None
    config = config if config is not None else load_config(config_path)
    registry = registry if registry is not None else CollectorRegistry()
    budgets = load_budgets(config.budgets_file)
    playbooks = load_playbooks(config)
    edges = histogram_edges(budgets)
    beacons = config.beacons

    epoch = os.environ.get(EPOCH_ENV) or uuid.uuid4().hex
    directory = multiprocess_dir()
    metrics = Metrics(registry, edges, max_routes=config.routes.max_routes,
                      navigation_type_label=beacons.navigation_type_label, sites=len(config.sites),
                      versions=config.releases.keep if config.releases.on else 0,
                      directory=Path(directory) if directory else None, epoch=int(epoch[:15], 16))
    metrics.config_reload_successful.set(1)
    metrics.config_reload_timestamp.set(clock())
    lifetime = Lifetime()
    lifetime.add(metrics.close)
    lifetime.add(configure_event_log(config.logging))  # the structured event log (eventlog.py)
    # perfbudget's own HTTP requests minute by minute, and a heartbeat a minute (monitoring, analytics).
    service_history = ServiceHistory(config.data_dir / "summary.sqlite", reader=metrics.reader, epoch=epoch,
                                     retention=config.metrics_retention_days * 86400, clock=clock)
    lifetime.add(service_history.close)
    seen = SeenTable(beacons.dedup_slots, beacons.dedup_ttl_seconds, _shared_file("dedup.bin"))
    lifetime.add(seen.close)
    table = RouteTable(config.routes.max_routes, _shared_file("routes.bin"), config.routes.labels())
    routes = RouteNormalizer(config.routes, table)
    # Distinct clients per route over every budget's window, every objective's long burn windows and the one an
    # execute from an alert checks.
    windows = [*budgets.client_windows(), config.playbooks.execute_clients_window]
    sketch = ClientSketch.shared({w: parse_duration(w) for w in windows}, table.slots, directory, epoch)
    lifetime.add(sketch.close)
    metrics.expose_distinct_clients(RouteClients(sketch, table))
    # database.url: the attribution top-K and the summary's frames in the shared database, for every replica.
    shared_db = PostgresDatabase(config.database.url, config.database.connect_timeout_seconds) \
        if config.database.url else None
    if shared_db is not None:
        lifetime.add(shared_db.close)  # closed last: the stores below flush into it as they close
    attribution = AttributionStore(config.data_dir / "attribution", beacons.attribution_top_k, database=shared_db)
    lifetime.add(attribution.close)
    # The known releases (releases.sqlite, every worker's), when the version label is on.
    release_store = ReleaseStore(config.data_dir / "releases.sqlite", config.releases.keep) \
        if config.releases.on else None
    releases = Releases(config.releases, release_store) if release_store is not None else None
    if release_store is not None:
        lifetime.add(release_store.close)
    sites = SiteResolver(config.sites) if config.sites else None  # the site label, when sites are configured
    otlp = OtlpPipeline.from_config(config, edges, metrics, exporter=otlp_exporter)
    if otlp is not None:
        lifetime.add(otlp.shutdown)
    ingestor = Ingestor(metrics, routes, seen, attribution, otlp, beacons.navigation_type_label, clients=sketch,
                        alerts=BeaconAlerts(budgets, lambda vital: suggest_fix(playbooks, vital)),
                        pages=SiteUrls(beacons.allowed_origins),
                        sites=sites, releases=releases, breakdowns=beacons.breakdowns)
    # The summary's frames, each minute's also metric_collected lines (eventlog).
    snapshots = LoggedSnapshotStore(config.data_dir / "summary.sqlite", edges, config.metrics_retention_days * 86400,
                                    database=shared_db)
    device_vitals = {budget.metric for budget in budgets.vitals if budget.device is not None}
    vitals_summary = SummaryService(
        metrics.reader,
        edges,
        snapshots,
        epoch=epoch,
        started=clock(),
        target_for=budgets.target_for,
        budget_for=budgets.budget_for,
        diagnose=attribution.diagnosis,
        suggest=lambda vital: suggest_fix(playbooks, vital),
        page_url=attribution.page_url,
        device_vitals=device_vitals,
        clock=clock,
        cache=AnswerCache(_shared_file("summary-cache"), config.server.read_cache_seconds, clock),
        windows=summary_windows(config, edges, device_vitals),
    )
    lifetime.add(vitals_summary.close)
    runner = build_runner(config, playbooks, metrics=metrics, summary=vitals_summary, edges=edges,
                          attribution=lambda kind, route: attribution.top(kind, route, limit=20))
    lifetime.add(runner.close)
    fix_outcomes = Outcomes(runner.store, vitals_summary, playbooks, budgets.budget_for, edges, clock)
    recorder = OutcomeRecorder(fix_outcomes, metrics)  # the outcome metrics: bytes saved, verdicts
    lifetime.add(recorder.close)

    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Every Flask body is capped before it is read, at the largest one takes: the Alertmanager webhook's.
    app.config["MAX_CONTENT_LENGTH"] = alerts.MAX_BODY
    app.wsgi_app = FlaskTiming(app, metrics.http, service_history.record_error)  # type: ignore[method-assign]
    errors.init_app(app, alerts.MAX_BODY)  # JSON errors under /api/ (404 and 405 included); a JSON 413 anywhere
    app.extensions[_LIFETIME] = lifetime
    auth.init_app(app, config.auth, metrics.auth_failures)
    writes.init_app(app, config.actions.external_url)  # writes: JSON only, from this server's own origin
    reloader = Reloader(config_path, edges, metrics, swap)
    ops.init_app(app, metrics, vitals_summary.problems, reloader, beacons.sample_rate)
    summary.init_app(app, vitals_summary, routes, config.server, sites.names if sites else (), config.releases.on,
                     beacons.navigation_type_label)
    console.init_app(app, vitals_summary, routes, runner)
    alerts.init_app(app, runner, metrics.alerts_received)
    perffix.init_app(app, runner)
    release_api.init_app(app, releases, release_store, clock)
    thresholds = service_thresholds(config)
    performance_alerts.init_app(app, reloader, read_overrides(overrides_path(config)), thresholds, clock)
    prometheus = config.prometheus
    percentile = budgets.service.latency.percentile if budgets.service.latency is not None else 95.0
    monitoring.init_app(app, Monitoring(
        LocalMonitor(service_history, HostSampler(config.data_dir), lambda: thresholds, clock, percentile),
        PrometheusMonitor(prometheus.url, prometheus.timeout_seconds, lambda: thresholds, clock, percentile)
        if prometheus.url else None,
        AnswerCache(_shared_file("monitoring-cache"), config.server.read_cache_seconds, clock)))
    outcomes.init_app(app, fix_outcomes, config.playbooks.outcomes_window_seconds, config.server.read_cache_seconds)
    analytics.init_app(app, Sources(
        LocalVitals(vitals_summary, metrics.reader, edges), budgets, playbooks, attribution.diagnosis,
        lambda playbook: latest_preview(runner.store, playbook), service=service_history,
        outcomes=lambda now: fix_outcomes.report(window=config.playbooks.outcomes_window_seconds, now=now),
        why={}, retention_days=config.metrics_retention_days, source="perfbudget"),
        AnswerCache(_shared_file("analytics-cache"), config.server.read_cache_seconds, clock),
        vitals_summary.generation)
    app.wsgi_app = BeaconEndpoint(config, ingestor, metrics, app.wsgi_app)  # type: ignore[method-assign]

    attribution.start()
    vitals_summary.start()
    service_history.start()
    recorder.start()  # before the runner, so the first run that ends is counted
    runner.start()
    atexit.register(lifetime.close)
    return app
