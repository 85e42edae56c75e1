"""The service thresholds of the monitoring guide, as the rules alert on them: API latency 200 ms, error
rate 0.1 %, uptime 99.9 %, CPU 80 %, memory 85 %.

Each comes from, last one winning: the guide's default; the budgets file (its `service:` and `resources:`
sections, which hold the same defaults); the guide's environment overrides ALERT_THRESHOLD_RESPONSE_TIME
(ms), ALERT_THRESHOLD_ERROR_RATE, ALERT_THRESHOLD_CPU and ALERT_THRESHOLD_MEMORY (percent); and the
thresholds set through POST /api/performance-alerts (the overrides file). Build them once per app (the
configuration in force), never per request: a new value reaches a worker through the validated reload.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .budgets.model import Budgets, load_budgets
from .budgets.overrides import (
    KINDS,
    Overrides,
    ThresholdKind,
    apply_overrides,
    env_value,
    overrides_path,
    read_overrides,
)
from .config.model import Config

Source = Literal["default", "budgets", "env", "api"]


@dataclass(frozen=True, slots=True)
class Threshold:
    """One service threshold: `value` in `unit` (ms, or percent), the severity its alert fires with, and
    where the value comes from (`source_detail`: the file, the variable or the override's id)."""

    alert_type: str  # response_time | error_rate | uptime | cpu | memory
    value: float
    unit: Literal["ms", "percent"]
    severity: str  # info | warning | critical
    source: Source
    source_detail: str
    # False when the budgets file turns this budget off (null): no rule alerts on it; `value` is then the
    # guide's default, for a status to compare with.
    alerting: bool
    override_id: str | None = None

    def breached(self, observed: float) -> bool:
        """Whether an observed value (same unit) is past the threshold: over it, or for uptime under it."""
        return observed > self.value if KINDS[self.alert_type].breached_above else observed < self.value


@dataclass(frozen=True, slots=True)
class ServiceThresholds:
    response_time: Threshold  # ms, p95 of http_server_request_duration_seconds (the latency budget's percentile)
    error_rate: Threshold  # percent of requests answered 5xx
    uptime: Threshold  # percent
    cpu: Threshold  # percent of capacity
    memory: Threshold  # percent of capacity

    def all(self) -> tuple[Threshold, ...]:
        return (self.response_time, self.error_rate, self.uptime, self.cpu, self.memory)

    def get(self, alert_type: str) -> Threshold:
        """The threshold of `alert_type`; KeyError for another name."""
        for threshold in self.all():
            if threshold.alert_type == alert_type:
                return threshold
        raise KeyError(alert_type)


def _budget_value(budgets: Budgets, kind: ThresholdKind) -> tuple[float | None, str]:
    """The budgets' value in the API's unit and its alert's severity; None when that budget is off."""
    service, resources = budgets.service, budgets.resources
    if kind.alert_type == "response_time":
        return (None, "warning") if service.latency is None else \
            (round(service.latency.target * 1000.0, 9), service.latency.severity)
    if kind.alert_type == "error_rate":
        return (None, "critical") if service.error_rate is None else \
            (round(service.error_rate.target * 100.0, 12), service.error_rate.severity)
    if kind.alert_type == "uptime":
        if service.availability is None:
            return None, "critical"
        # The fastest burn's severity: what the objective pages with.
        return service.availability.objective, service.availability.burn_rates[0].severity
    value = resources.cpu_percent if kind.alert_type == "cpu" else resources.memory_percent
    return value, resources.severity


def thresholds_from(budgets: Budgets, overrides: Overrides, budgets_source: str,
                    env: Mapping[str, str]) -> ServiceThresholds:
    """The thresholds of `budgets` (loaded with `env`'s ALERT_THRESHOLD_* applied) under `overrides`."""
    applied = apply_overrides(budgets, overrides)
    out: dict[str, Threshold] = {}
    for alert_type, kind in KINDS.items():
        value, severity = _budget_value(applied, kind)
        override = overrides.get(alert_type)
        raw_env = env_value(kind, env)
        if value is None:
            out[alert_type] = Threshold(alert_type, kind.default, kind.unit, severity, "default",
                                        f"the monitoring guide (off in {budgets_source})", alerting=False)
        elif override is not None:
            out[alert_type] = Threshold(alert_type, value, kind.unit, severity, "api", override.id,
                                        alerting=True, override_id=override.id)
        elif raw_env is not None and kind.env is not None:
            out[alert_type] = Threshold(alert_type, value, kind.unit, severity, "env", kind.env, alerting=True)
        else:
            out[alert_type] = Threshold(alert_type, value, kind.unit, severity, "budgets", budgets_source,
                                        alerting=True)
    return ServiceThresholds(**out)


def service_thresholds(config: Config, env: Mapping[str, str] | None = None) -> ServiceThresholds:
    """The thresholds in force for `config`: its budgets file with ALERT_THRESHOLD_* from `env` (os.environ
    by default) and its overrides file. Raises ConfigError when either file is invalid."""
    env = os.environ if env is None else env
    budgets = load_budgets(config.budgets_file, env)
    overrides = read_overrides(overrides_path(config))
    source = str(config.budgets_file) if config.budgets_file is not None else "the bundled budgets"
    return thresholds_from(budgets, overrides, source, env)
