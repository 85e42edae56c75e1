"""PromQL text the rules and the dashboards share: string literals, label selectors, windows in order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .model import parse_duration


def string(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector(matchers: Iterable[tuple[str, str, str]]) -> str:
    """[('route', '=~', '/a.*')] -> '{route=~"/a.*"}'; '' when there are none."""
    parts = [f"{name}{op}{string(value)}" for name, op, value in matchers]
    return "{" + ",".join(parts) + "}" if parts else ""


def equality(labels: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """Equality matchers for `labels`, sorted by label name so the text does not depend on the YAML order."""
    return [(name, "=", value) for name, value in sorted(labels.items())]


def by_duration(windows: Iterable[str]) -> list[str]:
    """Distinct windows, shortest first ("5m" before "1h"); equal durations by their text."""
    return sorted(set(windows), key=lambda w: (parse_duration(w), w))
