"""The application factory: one `Services` bundle per app, Flask blueprints, the beacon fast path in front."""

from __future__ import annotations

import atexit
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app
from prometheus_client import CollectorRegistry

from .attribution import AttributionStore
from .budgets.model import Budgets, load_budgets
from .config import Config, ConfigError, load_config
from .dedup import SeenTable
from .ingest import Ingestor
from .metrics import Metrics, multiprocess_dir, scrape_registry
from .routes import RouteNormalizer, RouteTable
from .summary import SnapshotStore, SummaryService
from .vitals import VITALS, bucket_edges

EXTENSION = "perfbudget"
# Set by `perfbudget serve` for its workers: the server's master process (reload = SIGHUP to it), the
# config file the workers load, and the run's id shared by every worker.
MASTER_PID_ENV = "PERFBUDGET_MASTER_PID"
EPOCH_ENV = "PERFBUDGET_EPOCH"


@dataclass
class Services:
    """Everything a request handler may need, built once per app (so once per worker process)."""

    config: Config
    config_file: Path | None
    registry: CollectorRegistry
    budgets: Budgets
    edges: dict[str, tuple[float, ...]]
    metrics: Metrics
    routes: RouteNormalizer
    ingestor: Ingestor
    attribution: AttributionStore
    summary: SummaryService
    extras: dict[str, Any] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)
    # Replaced by the development server's reloader; the production server reloads by SIGHUP.
    swap: Callable[[Config], None] | None = None

    def route_label(self, page: str) -> str:
        """The route label a `?page=` filter means: a label as given, or the label a path maps to."""
        return self.routes.lookup(page)

    def readiness(self) -> list[str]:
        problems = []
        try:
            self.summary.store.at(time.time(), "__readiness__")
        except Exception as exc:  # any storage failure makes us unready, with the reason
            problems.append(f"snapshot store {self.summary.store.path}: {exc}")
        return problems

    def authorize(self, scope: str) -> tuple[Response, int] | None:
        from .web.auth import authorize

        return authorize(self.config, scope)

    def reload(self) -> list[str]:
        """Load the config file again; apply it when valid. Returns every error otherwise."""
        try:
            config = load_config(self.config_file)
            budgets = load_budgets(config.budgets_file)
            from .playbooks import load_playbooks

            load_playbooks(config)
        except ConfigError as exc:
            self.metrics.config_reload_successful.set(0)
            return exc.errors
        if histogram_edges(budgets) != self.edges:
            # Workers of one run must share bucket edges: samples with other `le` values would merge into
            # histograms that no longer add up (in /metrics and in the summary's windows).
            self.metrics.config_reload_successful.set(0)
            return ["the budgets' targets change the histograms' bucket edges, which a reload cannot do: "
                    "restart perfbudget to apply them"]
        master = os.environ.get(MASTER_PID_ENV)
        if master:
            # The server restarts its workers gracefully; each builds its app from the file again.
            os.kill(int(master), signal.SIGHUP)
        elif self.swap is not None:
            self.swap(config)
        self.metrics.config_reload_successful.set(1)
        self.metrics.config_reload_timestamp.set(time.time())
        return []

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # shutdown must finish every closer
                pass
        self.closers.clear()


def histogram_edges(budgets: Budgets) -> dict[str, tuple[float, ...]]:
    """Per vital, the histogram's bucket edges: the default grid, Google's thresholds and every budget target."""
    targets = budgets.bucket_targets()
    return {name: bucket_edges(vital, targets.get(name, ())) for name, vital in VITALS.items()}


def services() -> Services:
    """The current app's services (inside a request or app context)."""
    value: Services = current_app.extensions[EXTENSION]
    return value


def _shared_file(name: str) -> Path | None:
    directory = multiprocess_dir()
    return Path(directory) / name if directory else None


def build_services(config: Config, registry: CollectorRegistry, config_file: Path | None) -> Services:
    budgets = load_budgets(config.budgets_file)
    edges = histogram_edges(budgets)
    extra_labels = ("navigation_type",) if config.beacons.navigation_type_label else ()
    metrics = Metrics(registry, edges, extra_labels)
    metrics.config_reload_successful.set(1)
    metrics.config_reload_timestamp.set(time.time())
    beacons = config.beacons
    seen = SeenTable(beacons.dedup_slots, beacons.dedup_ttl_seconds, _shared_file("dedup.bin"))
    routes = RouteNormalizer(config.routes, RouteTable(config.routes.max_routes, _shared_file("routes.bin")))
    attribution = AttributionStore(config.data_dir / "attribution", beacons.attribution_top_k)

    from .otlp import OtlpPipeline
    from .playbooks import build_runner, load_playbooks, suggest_fix

    playbooks = load_playbooks(config)

    otlp = OtlpPipeline.from_config(config, edges, metrics)
    ingestor = Ingestor(metrics, routes, seen, attribution, otlp, beacons.navigation_type_label)
    summary = SummaryService(
        lambda: scrape_registry(registry),
        edges,
        SnapshotStore(config.data_dir / "summary.sqlite"),
        epoch=os.environ.get(EPOCH_ENV) or uuid.uuid4().hex,
        started=time.time(),
        target_for=budgets.target_for,
        diagnose=lambda vital, route: _diagnosis(attribution, vital, route),
        suggest=lambda vital: suggest_fix(playbooks, vital),
    )
    state = Services(config, config_file, registry, budgets, edges, metrics, routes, ingestor, attribution, summary)
    state.closers += [seen.close, attribution.close, summary.close]
    if otlp is not None:
        state.closers.append(otlp.shutdown)
    runner = build_runner(config, playbooks, metrics=metrics, summary=summary, edges=edges,
                          attribution=lambda kind, route: attribution.top(kind, route, limit=20))
    state.extras["runner"] = runner
    state.closers.append(runner.close)  # closers run newest first: runs stop before the stores they read
    attribution.start()
    summary.start()
    runner.start()
    return state


_DIAGNOSIS_KINDS = {
    "LCP": (("lcp.url", "lcpResources"), ("lcp.target", "lcpElements")),
    "INP": (("inp.target", "interactionTargets"), ("inp.script", "longestScripts")),
    "CLS": (("cls.target", "largestShiftTargets"),),
}


def _diagnosis(attribution: AttributionStore, vital: str, route: str | None) -> dict[str, Any]:
    """What the beacons' attribution blames most, for the summary's `diagnosis`."""
    return {
        key: [{"value": value, "count": count} for value, count in attribution.top(kind, route, limit=5)]
        for kind, key in _DIAGNOSIS_KINDS.get(vital, ())
    }


def create_app(
    config: Config | None = None,
    *,
    registry: CollectorRegistry | None = None,
    config_file: Path | str | None = None,
) -> Flask:
    """Build the exporter. Tests pass their own `config` and a fresh `registry`."""
    config_path = Path(config_file) if config_file is not None else None
    config = config if config is not None else load_config(config_path)
    registry = registry if registry is not None else CollectorRegistry()
    state = build_services(config, registry, config_path)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = state

    from .web import blueprints
    from .web.beacons import BeaconEndpoint

    for blueprint in blueprints():
        app.register_blueprint(blueprint)
    app.wsgi_app = BeaconEndpoint(config, state.ingestor, state.metrics, app.wsgi_app)  # type: ignore[method-assign]
    atexit.register(state.close)
    return app
