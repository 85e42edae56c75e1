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

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from ..config.base import StrictModel
from ..config.env import CPU_ENV, ERROR_RATE_ENV, MEMORY_ENV, RESPONSE_TIME_ENV
from ..config.errors import ConfigError, format_validation_error
from ..config.loader import read_yaml_mapping, set_path
from ..vitals import VITALS

Severity = Literal["info", "warning", "critical"]
Device = Literal["phone", "tablet", "desktop", "unknown"]

# Environment override -> (key path in the file, how to read the variable).
ENV_OVERRIDES: dict[str, tuple[tuple[str, ...], str]] = {
    RESPONSE_TIME_ENV: (("service", "latency", "target"), "milliseconds"),
    ERROR_RATE_ENV: (("service", "error_rate", "target"), "percent"),
    CPU_ENV: (("resources", "cpu_percent"), "percent"),
    MEMORY_ENV: (("resources", "memory_percent"), "percent"),
}

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")
# Prometheus's own grammar: units from the largest down, each at most once ("1h30m", not "30m1h").
_PROM_DURATION = re.compile(r"^(?:\d+y)?(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m(?!s))?(?:\d+s)?(?:\d+ms)?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]")


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


_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def _prom_duration(value: str) -> str:
    """A window, offset or period: a Prometheus duration longer than zero."""
    if parse_duration(value) <= 0:
        raise ValueError("must be longer than 0s")
    return value


def _for_duration(value: str) -> str:
    """An alert's `for`: a Prometheus duration, 0s meaning at once."""
    parse_duration(value)
    return value


def _re2_regex(value: str) -> str:
    """A regex that both Python and Prometheus (RE2: no lookaround, no backreferences) accept."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"regex {value!r} does not compile: {exc}") from None
    if _NOT_RE2.search(value):
        raise ValueError(f"regex {value!r} uses lookaround or a backreference, which Prometheus (RE2) refuses")
    return value


def _metric_name(value: str) -> str:
    if not _METRIC.match(value):
        raise ValueError("is not a Prometheus metric name")
    return value


def _label_matchers(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not _LABEL.match(name):
            raise ValueError(f"{name!r} is not a Prometheus label name")
    return value


def parse_duration(value: str) -> float:
    """A Prometheus duration ('1h30m', '5m', '0s') in seconds."""
    if not value or not _PROM_DURATION.match(value):
        raise ValueError("must be a Prometheus duration like 5m, 1h or 1h30m (units from the largest down)")
    return float(sum(int(n) * _DURATION_UNITS[unit] for n, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", value)))


# Field types whose checks every budget section shares.
Duration = Annotated[str, AfterValidator(_prom_duration)]
ForDuration = Annotated[str, AfterValidator(_for_duration)]
MetricName = Annotated[str, AfterValidator(_metric_name)]
Selector = Annotated[dict[str, str], AfterValidator(_label_matchers)]


class VitalBudget(StrictModel):
    """p`percentile` of `metric` must stay at or under `target` (over `window`, with `min_samples` loads
    from `min_clients` distinct clients)."""

    metric: Literal["LCP", "INP", "CLS", "FCP", "TTFB"]
    # Base units after validation: seconds for the timing vitals, the score for CLS.
    target: Annotated[float, Field(gt=0)]
    name: str | None = None
    # A regular expression over route labels, fully anchored as PromQL's =~ is; all routes when unset.
    route: str | None = None
    device: Device | None = None
    percentile: Annotated[float, Field(gt=0, lt=100)] = 75
    window: Duration = "1h"
    min_samples: Annotated[int, Field(ge=0)] = 50
    # Distinct client addresses on the route over `window` (perfbudget_route_distinct_clients) before the
    # budget's alerts fire: thirty forged beacons from one machine page nobody. 0 turns the guard off.
    min_clients: Annotated[int, Field(ge=0, le=1_000_000)] = 5
    for_: Annotated[ForDuration, Field(alias="for")] = "10m"
    severity: Severity = "warning"

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @model_validator(mode="before")
    @classmethod
    def _target_units(cls, data: Any) -> Any:
        if isinstance(data, dict) and "target" in data:
            vital = VITALS.get(str(data.get("metric")))
            data = {**data, "target": _seconds(data["target"], ms_numbers=vital.ms if vital else True)}
        return data


    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError("must be lower-case letters, digits, '-' or '_' (it becomes the `budget` label)")
        return value

    @field_validator("route")
    @classmethod
    def _route(cls, value: str | None) -> str | None:
        return None if value is None else _re2_regex(value)

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
    """p`percentile` of the HTTP server request duration histogram, per job, must stay under `target`."""

    # OpenTelemetry's HTTP server semantic conventions, as the Prometheus exporter names them.
    metric: MetricName = "http_server_request_duration_seconds"
    percentile: Annotated[float, Field(gt=0, lt=100)] = 95
    target: Annotated[float, Field(gt=0)] = 0.2  # seconds
    window: Duration = "5m"
    for_: Annotated[ForDuration, Field(alias="for")] = "10m"
    severity: Severity = "warning"
    # Extra equality matchers on the series, e.g. {job: api}.
    selector: Selector = Field(default_factory=dict)

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @field_validator("target", mode="before")
    @classmethod
    def _units(cls, value: Any) -> Any:
        return _seconds(value, ms_numbers=True)


class ErrorRateBudget(StrictModel):
    """The share of failed requests per job (also the SLI of the availability objective)."""

    metric: MetricName = "http_server_request_duration_seconds_count"
    # The label and the regex over its values that mark a failed request (OpenTelemetry:
    # http.response.status_code); `error_example` is a value the regex matches, used in the rule tests.
    error_label: str = "http_response_status_code"
    error_regex: str = "5.."
    target: Annotated[float, Field(gt=0, lt=1)] = 0.001  # ratio: 0.1 %
    window: Duration = "5m"
    for_: Annotated[ForDuration, Field(alias="for")] = "5m"
    severity: Severity = "critical"
    selector: Selector = Field(default_factory=dict)

    model_config = StrictModel.model_config | {"populate_by_name": True}


    @field_validator("error_label")
    @classmethod
    def _label(cls, value: str) -> str:
        _label_matchers({value: ""})
        return value

    @field_validator("error_regex")
    @classmethod
    def _regex(cls, value: str) -> str:
        return _re2_regex(value)


class BurnRate(StrictModel):
    """Alert when the error budget burns `burn_rate` times too fast over both windows."""

    burn_rate: Annotated[float, Field(gt=0)]
    long_window: Duration
    short_window: Duration
    severity: Severity
    for_: Annotated[ForDuration, Field(alias="for")] = "2m"

    model_config = StrictModel.model_config | {"populate_by_name": True}


    @model_validator(mode="after")
    def _windows(self) -> BurnRate:
        if parse_duration(self.short_window) >= parse_duration(self.long_window):
            raise ValueError(f"short_window {self.short_window} must be shorter than long_window {self.long_window}")
        return self


def _workbook_burn_rates() -> list[BurnRate]:
    # The SRE workbook's multiwindow, multi-burn-rate alerts for a 30-day objective.
    return [
        BurnRate(burn_rate=14.4, long_window="1h", short_window="5m", severity="critical"),
        BurnRate(burn_rate=6.0, long_window="6h", short_window="30m", severity="critical"),
        BurnRate(burn_rate=1.0, long_window="3d", short_window="6h", severity="warning"),
    ]


class AvailabilityBudget(StrictModel):
    """An SLO (e.g. 99.9 % of requests succeed over 30 days) alerted by multi-window burn rates."""

    objective: Annotated[float, Field(gt=0, lt=100)] = 99.9  # percent
    period: Duration = "30d"
    burn_rates: list[BurnRate] = Field(default_factory=_workbook_burn_rates, min_length=1)

    @property
    def error_budget(self) -> float:
        """The allowed failure ratio: 99.9 % -> 0.001 (rounded so that 1 - 0.999 reads 0.001)."""
        return round(1.0 - self.objective / 100.0, 12)


class ServiceBudgets(StrictModel):
    latency: LatencyBudget | None = Field(default_factory=LatencyBudget)
    error_rate: ErrorRateBudget | None = Field(default_factory=ErrorRateBudget)
    availability: AvailabilityBudget | None = Field(default_factory=AvailabilityBudget)


class ResourceBudgets(StrictModel):
    """node_exporter thresholds, in percent; null turns one off."""

    cpu_percent: Annotated[float, Field(gt=0, le=100)] | None = 80
    memory_percent: Annotated[float, Field(gt=0, le=100)] | None = 85
    disk_percent: Annotated[float, Field(gt=0, le=100)] | None = 90
    for_: Annotated[ForDuration, Field(alias="for")] = "10m"
    severity: Severity = "warning"

    model_config = StrictModel.model_config | {"populate_by_name": True}


class RegressionAlert(StrictModel):
    """p`percentile` now against the same window `offset` earlier: alert when `factor` times worse."""

    factor: Annotated[float, Field(gt=1)] = 1.2
    offset: Duration = "1d"
    for_: Annotated[ForDuration, Field(alias="for")] = "30m"
    severity: Severity = "warning"

    model_config = StrictModel.model_config | {"populate_by_name": True}


class BeaconsStoppedAlert(StrictModel):
    """No report accepted for `window` while the same window `offset` earlier had some."""

    window: Duration = "30m"
    offset: Duration = "1d"
    for_: Annotated[ForDuration, Field(alias="for")] = "15m"
    severity: Severity = "warning"

    model_config = StrictModel.model_config | {"populate_by_name": True}


class Budgets(StrictModel):
    """The whole budgets file."""

    vitals: list[VitalBudget] = Field(default_factory=list)
    service: ServiceBudgets = Field(default_factory=ServiceBudgets)
    resources: ResourceBudgets = Field(default_factory=ResourceBudgets)
    # Alerts on every Web Vitals budget's route and device beside the budget itself; null turns one off.
    regression: RegressionAlert | None = Field(default_factory=RegressionAlert)
    beacons_stopped: BeaconsStoppedAlert | None = Field(default_factory=BeaconsStoppedAlert)
    # Where the generated alerts link to: Grafana for dashboards, the exporter for playbooks.
    grafana_url: str = "http://127.0.0.1:3000"
    exporter_url: str = "http://127.0.0.1:9478"

    def name_clashes(self) -> list[str]:
        """One error per Web Vitals budget whose `budget` label an earlier one already has."""
        seen: dict[str, int] = {}
        errors = []
        for index, budget in enumerate(self.vitals):
            name = budget.budget_name
            if name in seen:
                errors.append(f"vitals[{index}]: budget name {name!r} is also the name of vitals[{seen[name]}]; "
                              "give one a distinct 'name'")
            seen.setdefault(name, index)
        return errors

    def bucket_targets(self) -> dict[str, tuple[float, ...]]:
        """Per vital, every budget target: the histograms get a bucket edge at each, so compliance is exact."""
        out: dict[str, set[float]] = {}
        for budget in self.vitals:
            out.setdefault(budget.metric, set()).add(budget.target)
        return {name: tuple(sorted(values)) for name, values in out.items()}

    def budget_for(self, metric: str, route: str | None, device: str | None) -> VitalBudget | None:
        """The most specific budget that applies (route and device beat either beat none; ties: the first)."""
        best: VitalBudget | None = None
        for budget in self.vitals:
            if budget.metric == metric and budget.applies_to(route, device) and (
                best is None or budget.specificity > best.specificity
            ):
                best = budget
        return best

    def target_for(self, metric: str, route: str | None, device: str | None) -> float | None:
        """The target of the budget that applies to this route and device, if any."""
        best = self.budget_for(metric, route, device)
        return best.target if best is not None else None

    def overriding(self, budget: VitalBudget) -> list[VitalBudget]:
        """The budgets that win over `budget` wherever both apply (more specific, or as specific and earlier)."""
        index = self.vitals.index(budget)
        return [
            other for position, other in enumerate(self.vitals)
            if other.metric == budget.metric and other is not budget and (
                other.specificity > budget.specificity
                or (other.specificity == budget.specificity and position < index)
            )
        ]


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
        # A percent becomes the file's ratio for the error-rate target; the latency target stays in ms, as in the file.
        set_path(data, path, number / 100.0 if (unit == "percent" and path[-1] == "target") else number)
    return data, errors


def load_budgets(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Budgets:
    """The budgets from `path` (the bundled file when None), with the ALERT_THRESHOLD_* overrides."""
    env = os.environ if env is None else env
    file = Path(path) if path is not None else bundled_budgets_path()
    data, errors = _apply_env(read_yaml_mapping(file), env)
    if errors:
        raise ConfigError(errors)
    try:
        budgets = Budgets.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(file), exc)) from None
    clashes = budgets.name_clashes()
    if clashes:
        raise ConfigError([f"{file}: {error}" for error in clashes])
    return budgets
