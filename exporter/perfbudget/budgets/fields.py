"""The field types every section of the budgets file shares: durations, regexes, names, severities.

Each check raises ValueError with the sentence the error report prints after the key path and the value.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from ..vitals import VITALS

Severity = Literal["info", "warning", "critical"]
Device = Literal["phone", "tablet", "desktop", "unknown"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")
# Prometheus's own grammar: units from the largest down, each at most once ("1h30m", not "30m1h").
_PROM_DURATION = re.compile(r"^(?:\d+y)?(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m(?!s))?(?:\d+s)?(?:\d+ms)?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SITE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")  # config.sites.SiteConfig.name's pattern
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def seconds(value: Any, *, ms_numbers: bool) -> Any:
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


def parse_duration(value: str) -> float:
    """A Prometheus duration ('1h30m', '5m', '0s') in seconds."""
    if not value or not _PROM_DURATION.match(value):
        raise ValueError("must be a Prometheus duration like 5m, 1h or 1h30m (units from the largest down)")
    return float(sum(int(n) * _DURATION_UNITS[unit] for n, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", value)))


def _prom_duration(value: str) -> str:
    """A window, offset or period: a Prometheus duration longer than zero."""
    if parse_duration(value) <= 0:
        raise ValueError("must be longer than 0s")
    return value


def _for_duration(value: str) -> str:
    """An alert's `for`: a Prometheus duration, 0s meaning at once."""
    parse_duration(value)
    return value


def re2_regex(value: str) -> str:
    """A regex that both Python and Prometheus (RE2: no lookaround, no backreferences) accept."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"regex {value!r} does not compile: {exc}") from None
    if _NOT_RE2.search(value):
        raise ValueError(f"regex {value!r} uses lookaround or a backreference, which Prometheus (RE2) refuses")
    return value


def budget_name(value: str | None) -> str | None:
    """A `budget` label value given in the file."""
    if value is not None and not _NAME.match(value):
        raise ValueError("must be lower-case letters, digits, '-' or '_' (it becomes the `budget` label)")
    return value


def site_name(value: str) -> str:
    """A budget's `site`: a site name as the config's `sites:` spells it (checked against them by `perfbudget
    check`, which has the config)."""
    if not _SITE.match(value):
        raise ValueError("must be a site name from the config's sites: (lower-case letters, digits, '.', '-' or '_')")
    return value


def route_slug(route: str) -> str:
    """The part of a default budget name a route regex gives: '/products/.*' -> 'products'."""
    return re.sub(r"[^a-z0-9]+", "-", route.lower()).strip("-") or "root"


def _metric_name(value: str) -> str:
    if not _METRIC.match(value):
        raise ValueError("is not a Prometheus metric name")
    return value


def label_matchers(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not _LABEL.match(name):
            raise ValueError(f"{name!r} is not a Prometheus label name")
    return value


Duration = Annotated[str, AfterValidator(_prom_duration)]
ForDuration = Annotated[str, AfterValidator(_for_duration)]
MetricName = Annotated[str, AfterValidator(_metric_name)]
Selector = Annotated[dict[str, str], AfterValidator(label_matchers)]
#: A budget's or objective's `name` (the `budget` label) and `route` (a regex over route labels).
BudgetName = Annotated[str, AfterValidator(budget_name)]
RouteRegex = Annotated[str, AfterValidator(re2_regex)]
#: A budget's `site` (the `site` label the exporter gives page views when `sites:` is configured).
SiteName = Annotated[str, AfterValidator(site_name)]


def check_measurable(metric: str, value: float, what: str) -> None:
    """Refuse a target or threshold (in the vital's base unit) beyond what a beacon of `metric` can carry."""
    vital = VITALS[metric]
    if value > vital.to_base(vital.max_beacon_value):
        raise ValueError(f"{what} {vital.to_display(value):g}{vital.display_unit} is beyond what "
                         f"{metric} can measure ({vital.max_beacon_value:g}{vital.display_unit})")
