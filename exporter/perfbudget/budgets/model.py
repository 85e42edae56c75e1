"""The budgets file (`budgets.yaml`): Web Vitals budgets and objectives, and the service budgets teams run
beside them.

Loading is as strict as the config: unknown keys are errors, and every error names the file, the key path
and the value. Targets are written the way people read them (milliseconds for the timing vitals, the bare
score for CLS, or a string with a unit such as `2.5s`) and kept in base units (seconds) inside.
The environment overrides ALERT_THRESHOLD_RESPONSE_TIME (ms), ALERT_THRESHOLD_ERROR_RATE (percent),
ALERT_THRESHOLD_CPU and ALERT_THRESHOLD_MEMORY (percent) change the service and resource targets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ..config.base import StrictModel
from ..config.env import CPU_ENV, ERROR_RATE_ENV, MEMORY_ENV, RESPONSE_TIME_ENV
from ..config.errors import ConfigError, format_validation_error
from ..config.loader import read_yaml_mapping, set_path
from ..config.sites import OTHER_SITE
from ..vitals import VITALS
from .burn_rates import BurnRate
from .fields import (
    BudgetName,
    Device,
    Duration,
    ForDuration,
    MetricName,
    RouteRegex,
    Selector,
    Severity,
    SiteName,
    check_measurable,
    label_matchers,
    re2_regex,
    route_slug,
    seconds,
)
from .fields import parse_duration as parse_duration
from .objectives import VitalObjective

# Environment override -> (key path in the file, how to read the variable).
ENV_OVERRIDES: dict[str, tuple[tuple[str, ...], str]] = {
    RESPONSE_TIME_ENV: (("service", "latency", "target"), "milliseconds"),
    ERROR_RATE_ENV: (("service", "error_rate", "target"), "percent"),
    CPU_ENV: (("resources", "cpu_percent"), "percent"),
    MEMORY_ENV: (("resources", "memory_percent"), "percent"),
}

def bundled_budgets_path() -> Path:
    """The budgets that ship inside the package (used when no file is configured)."""
    return Path(str(resources.files("perfbudget.budgets").joinpath("budgets.yaml")))


class VitalBudget(StrictModel):
    """p`percentile` of `metric` must stay at or under `target` (over `window`, with `min_samples` loads
    from `min_clients` distinct clients)."""

    metric: Literal["LCP", "INP", "CLS", "FCP", "TTFB"]
    # Base units after validation: seconds for the timing vitals, the score for CLS.
    target: Annotated[float, Field(gt=0)]
    name: BudgetName | None = None
    # A regular expression over route labels, fully anchored as PromQL's =~ is; all routes when unset.
    route: RouteRegex | None = None
    device: Device | None = None
    # One of the config's `sites:` (or `other`); every site when unset, each alerted on its own.
    site: SiteName | None = None
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
            data = {**data, "target": seconds(data["target"], ms_numbers=vital.ms if vital else True)}
        return data


    @model_validator(mode="after")
    def _sane_target(self) -> VitalBudget:
        check_measurable(self.metric, self.target, "target")
        return self

    @property
    def budget_name(self) -> str:
        """The `budget` label: the given name, else metric[-site][-device][-route-slug]."""
        if self.name:
            return self.name
        parts = [self.metric.lower()]
        if self.site:
            parts.append(self.site)
        if self.device:
            parts.append(self.device)
        if self.route:
            parts.append(route_slug(self.route))
        return "-".join(parts)

    def applies_to(self, route: str | None, device: str | None, site: str | None = None) -> bool:
        if self.route is not None and (route is None or not re.fullmatch(self.route, route)):
            return False
        if self.site is not None and site != self.site:
            return False
        return not (self.device is not None and device != self.device)

    @property
    def specificity(self) -> int:
        """Route beats device beats neither; a site refines a budget of the same route and device."""
        return (self.route is not None) * 4 + (self.device is not None) * 2 + (self.site is not None)


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
        return seconds(value, ms_numbers=True)


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
        label_matchers({value: ""})
        return value

    @field_validator("error_regex")
    @classmethod
    def _regex(cls, value: str) -> str:
        return re2_regex(value)


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
    # Objectives on the good share of a vital, alerted by burn rates (perfbudget.budgets.objectives).
    objectives: list[VitalObjective] = Field(default_factory=list)
    service: ServiceBudgets = Field(default_factory=ServiceBudgets)
    resources: ResourceBudgets = Field(default_factory=ResourceBudgets)
    # Alerts on every Web Vitals budget's route and device beside the budget itself; null turns one off.
    regression: RegressionAlert | None = Field(default_factory=RegressionAlert)
    beacons_stopped: BeaconsStoppedAlert | None = Field(default_factory=BeaconsStoppedAlert)
    # Where the generated alerts link to: Grafana for dashboards, the exporter for playbooks.
    grafana_url: str = "http://127.0.0.1:3000"
    exporter_url: str = "http://127.0.0.1:9478"

    def name_clashes(self) -> list[str]:
        """One error per Web Vitals budget or objective whose `budget` label an earlier one already has."""
        seen: dict[str, str] = {}
        errors = []
        named = [*((f"vitals[{i}]", b.budget_name) for i, b in enumerate(self.vitals)),
                 *((f"objectives[{i}]", o.budget_name) for i, o in enumerate(self.objectives))]
        for where, name in named:
            if name in seen:
                errors.append(f"{where}: budget name {name!r} is also the name of {seen[name]}; "
                              "give one a distinct 'name'")
            seen.setdefault(name, where)
        return errors

    def bucket_targets(self) -> dict[str, tuple[float, ...]]:
        """Per vital, every budget target and objective threshold: the histograms get a bucket edge at each,
        so compliance and good shares are exact."""
        out: dict[str, set[float]] = {}
        for budget in self.vitals:
            out.setdefault(budget.metric, set()).add(budget.target)
        for objective in self.objectives:
            out.setdefault(objective.metric, set()).add(objective.threshold)
        return {name: tuple(sorted(values)) for name, values in out.items()}

    def client_windows(self) -> list[str]:
        """Every window a budget or objective alert counts distinct clients over (the exporter exposes
        perfbudget_route_distinct_clients for each), in order of first use."""
        windows = [budget.window for budget in self.vitals]
        windows += [burn.long_window for objective in self.objectives for burn in objective.alerting_burn_rates]
        return list(dict.fromkeys(windows))

    def budget_for(self, metric: str, route: str | None, device: str | None,
                   site: str | None = None) -> VitalBudget | None:
        """The most specific budget that applies (route and device beat either beat none, a site breaks the
        tie; ties: the first). Budgets naming a site apply only when `site` is given and is theirs."""
        best: VitalBudget | None = None
        for budget in self.vitals:
            if budget.metric == metric and budget.applies_to(route, device, site) and (
                best is None or budget.specificity > best.specificity
            ):
                best = budget
        return best

    def target_for(self, metric: str, route: str | None, device: str | None,
                   site: str | None = None) -> float | None:
        """The target of the budget that applies to this route and device (and site), if any."""
        best = self.budget_for(metric, route, device, site)
        return best.target if best is not None else None

    def site_errors(self, sites: Sequence[str], source: str) -> list[str]:
        """One error per Web Vitals budget or objective naming a site the config does not list (`sites`: their
        names)."""
        known = [*sites, OTHER_SITE]
        listed = ", ".join(sites) if sites else "none: the config has no sites:"
        named = [*((f"vitals[{i}]", b.site, b.budget_name) for i, b in enumerate(self.vitals)),
                 *((f"objectives[{i}]", o.site, o.budget_name) for i, o in enumerate(self.objectives))]
        return [f"{source}: {where}.site: {site!r}: budget {name!r} names a site the config does not list "
                f"(sites: {listed}; {OTHER_SITE!r} is every host no site lists)"
                for where, site, name in named if site is not None and site not in known]

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
