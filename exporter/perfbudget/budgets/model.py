"""The budgets file (`budgets.yaml`): Web Vitals budgets and the service budgets teams run beside them.

Loading is as strict as the config: unknown keys are errors, and every error names the file, the key path
and the value. Targets are written the way people read them (milliseconds for the timing vitals, the bare
score for CLS, or a string with a unit such as `2.5s`) and kept in base units (seconds) inside.
The environment overrides ALERT_THRESHOLD_RESPONSE_TIME (ms), ALERT_THRESHOLD_ERROR_RATE (percent),
ALERT_THRESHOLD_CPU and ALERT_THRESHOLD_MEMORY (percent) change the service and resource targets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ..config.base import StrictModel
from ..config.errors import ConfigError, format_validation_error
from ..config.loader import read_yaml_mapping
from ..vitals import VITALS

Severity = Literal["info", "warning", "critical"]
Device = Literal["phone", "tablet", "desktop", "unknown"]

BUDGETS_ENV = "PERFBUDGET_BUDGETS"
# Environment override -> (key path in the file, how to read the variable).
ENV_OVERRIDES: dict[str, tuple[tuple[str, ...], str]] = {
    "ALERT_THRESHOLD_RESPONSE_TIME": (("service", "latency", "target"), "milliseconds"),
    "ALERT_THRESHOLD_ERROR_RATE": (("service", "error_rate", "target"), "percent"),
    "ALERT_THRESHOLD_CPU": (("resources", "cpu_percent"), "percent"),
    "ALERT_THRESHOLD_MEMORY": (("resources", "memory_percent"), "percent"),
}

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")
_PROM_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def bundled_budgets_path() -> Path:
    """The budgets that ship inside the package (used when no file is configured)."""
    return Path(str(resources.files("perfbudget.budgets").joinpath("budgets.yaml")))


def _seconds(value: Any, *, ms_numbers: bool) -> Any:
    """'2.5s' / '2500ms' -> 2.5; a bare number is milliseconds when `ms_numbers`, else taken as is."""
    if isinstance(value, bool):
        return value  # let the float validator refuse it
    if isinstance(value, (int, float)):
        return value / 1000.0 if ms_numbers else float(value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match:
            number = float(match.group(1))
            return number / 1000.0 if match.group(2) == "ms" else number
        raise ValueError(f"{value!r} is not a duration like 2500ms or 2.5s")
    return value


def _prom_duration(value: str) -> str:
    if not _PROM_DURATION.match(value):
        raise ValueError("must be a Prometheus duration like 5m, 1h or 1d")
    return value


class VitalBudget(StrictModel):
    """p`percentile` of `metric` must stay at or under `target` (over `window`, with `min_samples` loads)."""

    metric: Literal["LCP", "INP", "CLS", "FCP", "TTFB"]
    # Base units after validation: seconds for the timing vitals, the score for CLS.
    target: Annotated[float, Field(gt=0)]
    name: str | None = None
    # A regular expression over route labels, fully anchored as PromQL's =~ is; all routes when unset.
    route: str | None = None
    device: Device | None = None
    percentile: Annotated[float, Field(gt=0, lt=100)] = 75
    window: str = "1h"
    min_samples: Annotated[int, Field(ge=0)] = 50
    for_: Annotated[str, Field(alias="for")] = "10m"
    severity: Severity = "warning"

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @model_validator(mode="before")
    @classmethod
    def _target_units(cls, data: Any) -> Any:
        if isinstance(data, dict) and "target" in data:
            vital = VITALS.get(str(data.get("metric")))
            data = {**data, "target": _seconds(data["target"], ms_numbers=vital.ms if vital else True)}
        return data

    @field_validator("window", "for_")
    @classmethod
    def _duration(cls, value: str) -> str:
        return _prom_duration(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError("must be lower-case letters, digits, '-' or '_' (it becomes the `budget` label)")
        return value

    @field_validator("route")
    @classmethod
    def _route(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"regex {value!r} does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _sane_target(self) -> VitalBudget:
        vital = VITALS[self.metric]
        limit = vital.to_base(vital.max_beacon_value)
        if self.target > limit:
            raise ValueError(f"target {vital.to_display(self.target):g}{vital.display_unit} is beyond what "
                             f"{self.metric} can measure ({vital.max_beacon_value:g}{vital.display_unit})")
        return self

    @property
    def budget_name(self) -> str:
        """The `budget` label: the given name, else metric[-device][-route-slug]."""
        if self.name:
            return self.name
        parts = [self.metric.lower()]
        if self.device:
            parts.append(self.device)
        if self.route:
            slug = re.sub(r"[^a-z0-9]+", "-", self.route.lower()).strip("-")
            parts.append(slug or "root")
        return "-".join(parts)

    def applies_to(self, route: str | None, device: str | None) -> bool:
        if self.route is not None and (route is None or not re.fullmatch(self.route, route)):
            return False
        return not (self.device is not None and device != self.device)

    @property
    def specificity(self) -> int:
        return (self.route is not None) * 2 + (self.device is not None)


class LatencyBudget(StrictModel):
    # OpenTelemetry's HTTP server semantic conventions, as the Prometheus exporter names them.
    metric: str = "http_server_request_duration_seconds"
    percentile: Annotated[float, Field(gt=0, lt=100)] = 95
    target: Annotated[float, Field(gt=0)] = 0.2  # seconds
    window: str = "5m"
    for_: Annotated[str, Field(alias="for")] = "10m"
    severity: Severity = "warning"
    selector: str = ""  # extra label matchers, e.g. 'job="api"'

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @field_validator("target", mode="before")
    @classmethod
    def _units(cls, value: Any) -> Any:
        return _seconds(value, ms_numbers=True)

    @field_validator("window", "for_")
    @classmethod
    def _duration(cls, value: str) -> str:
        return _prom_duration(value)


class ErrorRateBudget(StrictModel):
    metric: str = "http_server_request_duration_seconds_count"
    # Label and regex that mark a failed request (OpenTelemetry: http.response.status_code).
    error_selector: str = 'http_response_status_code=~"5.."'
    target: Annotated[float, Field(gt=0, lt=1)] = 0.001  # ratio: 0.1 %
    window: str = "5m"
    for_: Annotated[str, Field(alias="for")] = "5m"
    severity: Severity = "critical"
    selector: str = ""

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @field_validator("window", "for_")
    @classmethod
    def _duration(cls, value: str) -> str:
        return _prom_duration(value)


class AvailabilityBudget(StrictModel):
    """An SLO (e.g. 99.9 % of requests succeed over 30 days) alerted by multi-window burn rates."""

    objective: Annotated[float, Field(gt=0, lt=100)] = 99.9  # percent
    period: str = "30d"
    # The SRE workbook's multiwindow, multi-burn-rate alerts: (burn rate, long window, short window, severity).
    burn_rates: list[tuple[float, str, str, Severity]] = Field(
        default_factory=lambda: [
            (14.4, "1h", "5m", "critical"),
            (6.0, "6h", "30m", "critical"),
            (1.0, "3d", "6h", "warning"),
        ]
    )

    @field_validator("period")
    @classmethod
    def _duration(cls, value: str) -> str:
        return _prom_duration(value)


class ServiceBudgets(StrictModel):
    latency: LatencyBudget | None = Field(default_factory=LatencyBudget)
    error_rate: ErrorRateBudget | None = Field(default_factory=ErrorRateBudget)
    availability: AvailabilityBudget | None = Field(default_factory=AvailabilityBudget)


class ResourceBudgets(StrictModel):
    """node_exporter thresholds, in percent; null turns one off."""

    cpu_percent: Annotated[float, Field(gt=0, le=100)] | None = 80
    memory_percent: Annotated[float, Field(gt=0, le=100)] | None = 85
    disk_percent: Annotated[float, Field(gt=0, le=100)] | None = 90
    for_: Annotated[str, Field(alias="for")] = "10m"
    severity: Severity = "warning"

    model_config = StrictModel.model_config | {"populate_by_name": True}


class Budgets(StrictModel):
    vitals: list[VitalBudget] = Field(default_factory=list)
    service: ServiceBudgets = Field(default_factory=ServiceBudgets)
    resources: ResourceBudgets = Field(default_factory=ResourceBudgets)
    # Where the generated alerts link to: Grafana for dashboards, the exporter for playbooks.
    grafana_url: str = "http://127.0.0.1:3000"
    exporter_url: str = "http://127.0.0.1:9478"

    @model_validator(mode="after")
    def _unique_names(self) -> Budgets:
        seen: dict[str, int] = {}
        for index, budget in enumerate(self.vitals):
            name = budget.budget_name
            if name in seen:
                raise ValueError(f"vitals[{index}] and vitals[{seen[name]}] are both named {name!r}; "
                                 "give one a distinct 'name'")
            seen[name] = index
        return self

    def bucket_targets(self) -> dict[str, tuple[float, ...]]:
        """Per vital, every budget target: the histograms get a bucket edge at each, so compliance is exact."""
        out: dict[str, set[float]] = {}
        for budget in self.vitals:
            out.setdefault(budget.metric, set()).add(budget.target)
        return {name: tuple(sorted(values)) for name, values in out.items()}

    def target_for(self, metric: str, route: str | None, device: str | None) -> float | None:
        """The target of the most specific budget that applies (route and device beat either beat none)."""
        best: VitalBudget | None = None
        for budget in self.vitals:
            if budget.metric == metric and budget.applies_to(route, device) and (
                best is None or budget.specificity > best.specificity
            ):
                best = budget
        return best.target if best is not None else None


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    errors = []
    for name, (path, unit) in ENV_OVERRIDES.items():
        raw = env.get(name)
        if not raw:
            continue
        try:
            number = float(raw)
        except ValueError:
            errors.append(f"environment {name}: {raw!r}: is not a number ({unit})")
            continue
        value: float = number / 100.0 if (unit == "percent" and path[-1] == "target") else number
        node = data
        for key in path[:-1]:
            child = node.get(key)
            if child is None or not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[path[-1]] = value  # milliseconds for the latency target, as in the file
    return data, errors


def load_budgets(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Budgets:
    """The budgets from `path` (the bundled file when None), with the ALERT_THRESHOLD_* overrides."""
    env = os.environ if env is None else env
    file = Path(path) if path is not None else bundled_budgets_path()
    data, errors = _apply_env(read_yaml_mapping(file), env)
    if errors:
        raise ConfigError(errors)
    try:
        return Budgets.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(file), exc)) from None
