"""The whole configuration, validated together: the config file, its budgets and its playbooks.

`perfbudget check` and `perfbudget serve` validate before they start; `POST /-/reload` validates the file
again and applies it only when all of it is valid (load -> validate -> swap, nothing half-applied).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .budgets.model import Budgets, load_budgets
from .budgets.overrides import overrides_path, read_overrides
from .budgets.publish import Published, publish, rules_dir_problem
from .config import Config, ConfigError, load_config
from .config.env import MASTER_PID_ENV, RUN_DIR_ENV
from .eventlog import config_reloaded
from .metrics import Metrics
from .playbooks.model import load_playbooks
from .server.snapshot import write_snapshot
from .vitals import VITALS, bucket_edges

Edges = Mapping[str, tuple[float, ...]]


def histogram_edges(budgets: Budgets) -> dict[str, tuple[float, ...]]:
    """Per vital, the histogram's bucket edges: the default grid, Google's thresholds and every budget target."""
    targets = budgets.bucket_targets()
    return {name: bucket_edges(vital, targets.get(name, ())) for name, vital in VITALS.items()}


def validate_all(path: Path | None, env: Mapping[str, str] | None = None) -> tuple[Config | None, list[str]]:
    """Config, budgets and playbooks: every error of every file, or the config when all are valid (`env`:
    the environment overrides, os.environ by default)."""
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        return None, exc.errors
    errors: list[str] = []
    try:
        budgets = load_budgets(config.budgets_file)
        errors += budgets.site_errors([site.name for site in config.sites],
                                      str(config.budgets_file or "the bundled budgets"))
    except ConfigError as exc:
        errors += exc.errors
    try:
        read_overrides(overrides_path(config))
    except ConfigError as exc:
        errors += exc.errors
    try:
        load_playbooks(config)
    except ConfigError as exc:
        errors += exc.errors
    return config, errors


@dataclass(frozen=True, slots=True)
class Applied:
    """A reload's outcome: every error (none when applied) and the rules it regenerated, if any."""

    errors: list[str]
    published: Published | None = None


class Reloader:
    """`POST /-/reload`: validate the config file again and, when all of it is valid, apply it.

    Under the production server, applying is writing the run's configuration snapshot (what every worker
    builds from, a respawned one included) and then SIGHUP to the master process, which restarts the
    workers gracefully; the development server passes `swap`, which rebuilds its one app in place.
    """

    def __init__(self, config_file: Path | None, edges: Edges, metrics: Metrics,
                 swap: Callable[[Config], None] | None = None) -> None:
        self._config_file = config_file
        self._edges = dict(edges)
        self._metrics = metrics
        self._swap = swap

    def reload(self) -> list[str]:
        """Every error, or an empty list once the new configuration is applied."""
        return self.apply().errors

    def validate(self) -> tuple[Config | None, list[str]]:
        """The configuration on disk, validated whole as a reload would (nothing applied)."""
        return validate_all(self._config_file)

    def apply(self) -> Applied:
        """`reload`, saying where the rules went: with `prometheus.rules_dir` set, the rules are regenerated
        there (and Prometheus asked to reload) before the workers get the new configuration."""
        applied = self._reload()
        config_reloaded(self._config_file, applied.errors)  # eventlog
        return applied

    def _reload(self) -> Applied:
        config, errors = validate_all(self._config_file)
        if config is None or errors:
            self._metrics.config_reload_successful.set(0)
            return Applied(errors)
        if histogram_edges(load_budgets(config.budgets_file)) != self._edges:
            # Workers of one run must share bucket edges: samples with other `le` values would merge into
            # histograms that no longer add up (in /metrics and in the summary's windows).
            self._metrics.config_reload_successful.set(0)
            return Applied(["the budgets' targets change the histograms' bucket edges, which a reload cannot do: "
                            "restart perfbudget to apply them"])
        published = None
        if config.prometheus.rules_dir is not None and rules_dir_problem(config) is None:
            try:
                published = publish(config)
            except (OSError, ConfigError) as exc:
                self._metrics.config_reload_successful.set(0)
                why = exc.errors if isinstance(exc, ConfigError) else [f"{exc.filename}: {exc.strerror}"]
                return Applied([f"cannot write the rules into {config.prometheus.rules_dir}: {e}" for e in why])
        master, run_dir = os.environ.get(MASTER_PID_ENV), os.environ.get(RUN_DIR_ENV)
        if run_dir:
            errors = write_snapshot(Path(run_dir), self._config_file, validate_all)
            if errors:
                self._metrics.config_reload_successful.set(0)
                return Applied(errors, published)
        if master:
            os.kill(int(master), signal.SIGHUP)
        elif self._swap is not None:
            self._swap(config)
        self._metrics.config_reload_successful.set(1)
        self._metrics.config_reload_timestamp.set(time.time())
        return Applied([], published)
