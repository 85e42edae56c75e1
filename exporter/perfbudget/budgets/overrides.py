"""The service thresholds set by API (`POST /api/performance-alerts`): a file beside the budgets, an input of
`perfbudget generate` like the budgets file itself.

One threshold per alert type (`response_time` in milliseconds; `error_rate`, `uptime`, `cpu`, `memory` in
percent), each replacing the budgets file's value (and its ALERT_THRESHOLD_* override) for that budget. The
file is validated as strictly as the budgets (unknown keys, units, ranges: every error with file, key path
and value), written atomically (a temporary file renamed over it), and changed under an exclusive lock so
that several workers taking a POST at once each add theirs. Nothing here reloads anything: a worker sees a
new file only through the validated reload (`reload.Reloader`), from the configuration snapshot.
"""

from __future__ import annotations

import fcntl
import math
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from ..config.base import StrictModel
from ..config.env import CPU_ENV, ERROR_RATE_ENV, MEMORY_ENV, RESPONSE_TIME_ENV
from ..config.errors import ConfigError, format_validation_error
from ..config.loader import read_yaml_mapping
from ..config.model import Config
from .fields import Severity
from .model import Budgets

AlertType = Literal["response_time", "error_rate", "uptime", "cpu", "memory"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
#: The name of the file when `thresholds_file` is not configured.
OVERRIDES_FILE = "budgets.overrides.yaml"
_HEADER = ("# Service thresholds set through POST /api/performance-alerts (perfbudget writes this file; an input\n"
           "# of `perfbudget generate`, over the budgets file beside it). Remove an entry with\n"
           "# DELETE /api/performance-alerts/<id>, or edit the budgets file and delete the entry here.\n")
_NUMBER_UNIT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|%)?\s*$")
VITAL_NAMES = frozenset({"lcp", "inp", "cls", "fcp", "ttfb", "fid"})


@dataclass(frozen=True, slots=True)
class ThresholdKind:
    """What one alert type sets: its unit, its range, the budget it replaces and the guide's default."""

    alert_type: str
    unit: Literal["ms", "percent"]
    low: float  # exclusive
    high: float
    high_inclusive: bool
    budget_key: str  # where the budgets file keeps it
    env: str | None  # the guide's ALERT_THRESHOLD_* variable
    default: float  # the monitoring guide's value
    severity_key: str | None  # the budgets file's severity this type's severity replaces; None: not settable
    breached_above: bool  # True: over the threshold is bad (uptime: under it)

    def range_text(self) -> str:
        unit = " ms" if self.unit == "ms" else "%"
        return f"more than {self.low:g}{unit} and at most {self.high:g}{unit}" if self.high_inclusive else \
            f"more than {self.low:g}{unit} and less than {self.high:g}{unit}"


KINDS: dict[str, ThresholdKind] = {
    "response_time": ThresholdKind("response_time", "ms", 0, 600_000, True, "service.latency.target",
                                   RESPONSE_TIME_ENV, 200, "service.latency.severity", True),
    "error_rate": ThresholdKind("error_rate", "percent", 0, 100, False, "service.error_rate.target",
                                ERROR_RATE_ENV, 0.1, "service.error_rate.severity", True),
    "uptime": ThresholdKind("uptime", "percent", 0, 100, False, "service.availability.objective",
                            None, 99.9, None, False),
    "cpu": ThresholdKind("cpu", "percent", 0, 100, True, "resources.cpu_percent", CPU_ENV, 80, None, True),
    "memory": ThresholdKind("memory", "percent", 0, 100, True, "resources.memory_percent", MEMORY_ENV, 85,
                            None, True),
}


def threshold_number(alert_type: str, value: Any) -> float:
    """A threshold as written (a number in the type's unit, or a string with a unit: 200ms, 0.2s, 0.1%)
    in the type's unit; ValueError saying why not."""
    kind = KINDS[alert_type]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be a number ({'milliseconds' if kind.unit == 'ms' else 'percent'})")
    number: float
    if isinstance(value, str):
        match = _NUMBER_UNIT.match(value)
        unit = match.group(2) if match else None
        if not match or (kind.unit == "ms" and unit == "%") or (kind.unit == "percent" and unit in ("ms", "s")):
            example = "200, 200ms or 0.2s" if kind.unit == "ms" else "80 or 80%"
            raise ValueError(f"{value!r} is not a {'duration' if kind.unit == 'ms' else 'percentage'} like {example}")
        number = float(match.group(1)) * (1000.0 if unit == "s" else 1.0)
    else:
        number = float(value)
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    in_range = number > kind.low and (number <= kind.high if kind.high_inclusive else number < kind.high)
    if not in_range:
        raise ValueError(f"{number:g} is out of range: {alert_type} takes {kind.range_text()}")
    return number


class Override(StrictModel):
    """One threshold set by API."""

    id: Annotated[str, Field(pattern=r"^alert_[0-9a-z_]{1,64}$")]
    alert_type: AlertType
    threshold: float
    severity: Severity | None = None
    created_at: Annotated[str, Field(min_length=1, max_length=40)]

    @field_validator("threshold", mode="before")
    @classmethod
    def _units(cls, value: Any, info: ValidationInfo) -> Any:
        alert_type = info.data.get("alert_type")  # declared first; absent when it is invalid
        return threshold_number(alert_type, value) if alert_type in KINDS else value

    @model_validator(mode="after")
    def _severity(self) -> Override:
        if self.severity is not None and KINDS[self.alert_type].severity_key is None:
            raise ValueError(severity_refusal(self.alert_type))
        return self

    @property
    def kind(self) -> ThresholdKind:
        return KINDS[self.alert_type]


def severity_refusal(alert_type: str) -> str:
    if alert_type == "uptime":
        return ("the uptime objective's alerts take their severities from its burn rates "
                "(service.availability.burn_rates in the budgets file): leave severity out")
    return (f"{alert_type} shares the resource budgets' one severity (resources.severity in the budgets file): "
            "leave severity out, or change it there")


class OverridesFile(StrictModel):
    thresholds: list[Override] = Field(default_factory=list)

    @field_validator("thresholds")
    @classmethod
    def _one_per_type(cls, value: list[Override]) -> list[Override]:
        seen: set[str] = set()
        for item in value:
            if item.alert_type in seen:
                raise ValueError(f"two thresholds for {item.alert_type}: keep one")
            seen.add(item.alert_type)
        return value


@dataclass(frozen=True, slots=True)
class Overrides:
    """The thresholds in one overrides file (at most one per alert type), in the order they were set."""

    items: tuple[Override, ...] = ()

    def get(self, alert_type: str) -> Override | None:
        return next((item for item in self.items if item.alert_type == alert_type), None)

    def find(self, override_id: str) -> Override | None:
        return next((item for item in self.items if item.id == override_id), None)

    def with_override(self, override: Override) -> Overrides:
        """These overrides with `override` in place of the one of its type, if any."""
        return Overrides((*(i for i in self.items if i.alert_type != override.alert_type), override))

    def without(self, override_id: str) -> Overrides:
        return Overrides(tuple(item for item in self.items if item.id != override_id))


def overrides_path(config: Config) -> Path:
    """`thresholds_file`, else budgets.overrides.yaml beside the budgets file (in data_dir for the bundled one)."""
    if config.thresholds_file is not None:
        return config.thresholds_file
    folder = config.budgets_file.parent if config.budgets_file is not None else config.data_dir
    return folder / OVERRIDES_FILE


def read_overrides(path: Path) -> Overrides:
    """The overrides in `path` (none when it does not exist); ConfigError naming the file, key and value."""
    if not path.exists():
        return Overrides()
    data = read_yaml_mapping(path)
    try:
        return Overrides(tuple(OverridesFile.model_validate(data).thresholds))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc, model=OverridesFile)) from None


def dump_overrides(overrides: Overrides) -> str:
    entries = [item.model_dump(exclude_none=True) for item in overrides.items]
    return _HEADER + yaml.safe_dump({"thresholds": entries}, sort_keys=False)


def write_overrides(path: Path, overrides: Overrides) -> None:
    """Replace the file atomically: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as out:
        out.write(dump_overrides(overrides))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the overrides file's lock (another file beside it): one read-change-write at a time, whichever
    worker process takes the request."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def apply_overrides(budgets: Budgets, overrides: Overrides) -> Budgets:
    """The budgets with each override in place of the value it replaces; a budget the budgets file turns
    off (null) stays off. Each override was validated against the same range as the budgets file's key."""
    service, resources = budgets.service, budgets.resources
    for item in overrides.items:
        severity = {"severity": item.severity} if item.severity is not None else {}
        if item.alert_type == "response_time" and service.latency is not None:
            latency = service.latency.model_copy(update={"target": item.threshold / 1000.0, **severity})
            service = service.model_copy(update={"latency": latency})
        elif item.alert_type == "error_rate" and service.error_rate is not None:
            # The budgets keep the error rate as a ratio; the API speaks percent.
            errors = service.error_rate.model_copy(update={"target": round(item.threshold / 100.0, 12), **severity})
            service = service.model_copy(update={"error_rate": errors})
        elif item.alert_type == "uptime" and service.availability is not None:
            availability = service.availability.model_copy(update={"objective": item.threshold})
            service = service.model_copy(update={"availability": availability})
        elif item.alert_type in ("cpu", "memory") and getattr(resources, f"{item.alert_type}_percent") is not None:
            resources = resources.model_copy(update={f"{item.alert_type}_percent": item.threshold})
    return budgets.model_copy(update={"service": service, "resources": resources})


def env_value(kind: ThresholdKind, env: Mapping[str, str]) -> str | None:
    """The ALERT_THRESHOLD_* value that set this type's budget, if any."""
    if kind.env is None:
        return None
    return env.get(kind.env) or None
