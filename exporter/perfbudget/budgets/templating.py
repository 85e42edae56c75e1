"""Alert annotations written once, rendered two ways: as Prometheus's Go templates for the rule files, and
expanded with known values for the `promtool test rules` expectations.

The Python formatters reproduce Prometheus's template functions (`humanizeDuration`, `humanizePercentage`,
`printf "%.4g"`, `urlquery`) for the values the tests use; promtool itself checks that they agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal, Protocol
from urllib.parse import quote_plus

ValueKind = Literal["duration", "percentage", "number"]

_GO_FUNCTIONS: dict[ValueKind, str] = {
    "duration": "humanizeDuration",
    "percentage": "humanizePercentage",
    "number": 'printf "%.4g"',
}


class Render(Protocol):
    """What an annotation needs: the alert's value and labels, as text."""

    def value(self, kind: ValueKind) -> str: ...

    def label(self, name: str) -> str: ...

    def query(self, name: str) -> str: ...


class GoTemplate:
    """Renders placeholders that Prometheus expands when the alert fires."""

    def value(self, kind: ValueKind) -> str:
        return "{{ $value | " + _GO_FUNCTIONS[kind] + " }}"

    def label(self, name: str) -> str:
        return "{{ $labels." + name + " }}"

    def query(self, name: str) -> str:
        return "{{ $labels." + name + " | urlquery }}"


class Expanded:
    """Renders what Prometheus would write for this value and these labels."""

    def __init__(self, value: float, labels: Mapping[str, str]) -> None:
        self._value = value
        self._labels = labels

    def value(self, kind: ValueKind) -> str:
        return format_value(kind, self._value)

    def label(self, name: str) -> str:
        return self._labels.get(name, "")

    def query(self, name: str) -> str:
        return quote_plus(self._labels.get(name, ""), safe="")


def go_g4(value: float) -> str:
    """Go's `%.4g` (same as C's, with at least two exponent digits)."""
    return f"{value:.4g}"


def humanize_duration(value: float) -> str:
    """Prometheus's `humanizeDuration`."""
    if math.isnan(value) or math.isinf(value):
        return go_g4(value)
    if value == 0:
        return f"{value:.4g}s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        value = abs(value)
        whole = int(value)
        seconds, minutes, hours, days = whole % 60, (whole // 60) % 60, (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{value:.4g}s"
    prefix = ""
    for unit in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = unit
        value *= 1000
    return f"{value:.4g}{prefix}s"


def humanize_percentage(value: float) -> str:
    """Prometheus's `humanizePercentage`: a ratio as a percentage with 4 significant digits."""
    return f"{value * 100:.4g}%"


def format_value(kind: ValueKind, value: float) -> str:
    if kind == "duration":
        return humanize_duration(value)
    if kind == "percentage":
        return humanize_percentage(value)
    return go_g4(value)
