"""Lighthouse CI `budget.json` -> perfbudget Web Vitals budgets (its `timings`; sizes and counts are lab
budgets with no field equivalent and are skipped).

A Lighthouse path pattern matches a URL path by prefix, `*` is a wildcard and a final `$` anchors the end;
it becomes a route regex (PromQL's `=~` is anchored, so a prefix gets a trailing `.*`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..config.errors import ConfigError, format_validation_error
from .model import Budgets

# Lighthouse timing ids with a field (real-user) equivalent.
TIMINGS = {
    "first-contentful-paint": "FCP",
    "largest-contentful-paint": "LCP",
    "cumulative-layout-shift": "CLS",
}


def path_to_route(pattern: str) -> str | None:
    """'/blog/*' -> '/blog/.*'; '/checkout$' -> '/checkout'; '/' -> None (every route)."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in body.split("*"))
    if not anchored:
        if regex in ("/", "/.*", ""):
            return None
        regex = regex if regex.endswith(".*") else regex + ".*"
    return regex


def vitals_from_lighthouse(data: Any, source: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(vital budget mappings, notes on what was skipped); ConfigError naming every structural problem."""
    if not isinstance(data, list):
        raise ConfigError([f"{source}: (top level): must be a list of budgets, not {type(data).__name__}"])
    errors: list[str] = []
    skipped: list[str] = []
    vitals: list[dict[str, Any]] = []
    for index, entry in enumerate(data):
        where = f"{source}: [{index}]"
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be a mapping with path and timings")
            continue
        path = entry.get("path", "/")
        if not isinstance(path, str) or not path.startswith("/"):
            errors.append(f"{where}.path: {path!r}: must be a path pattern starting with '/'")
            continue
        for kind in ("resourceSizes", "resourceCounts"):
            if entry.get(kind):
                skipped.append(f"{where}.{kind}: lab-only budgets have no real-user equivalent")
        timings = entry.get("timings", [])
        if not isinstance(timings, list):
            errors.append(f"{where}.timings: must be a list")
            continue
        route = path_to_route(path)
        for position, timing in enumerate(timings):
            at = f"{where}.timings[{position}]"
            if not isinstance(timing, dict) or "metric" not in timing or "budget" not in timing:
                errors.append(f"{at}: must be a mapping with metric and budget")
                continue
            metric, budget = timing["metric"], timing["budget"]
            if isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0:
                errors.append(f"{at}.budget: {budget!r}: must be a positive number")
                continue
            vital = TIMINGS.get(str(metric))
            if vital is None:
                skipped.append(f"{at}.metric: {metric!r} has no real-user equivalent")
                continue
            item: dict[str, Any] = {"metric": vital, "target": budget}
            if route is not None:
                item["route"] = route
            vitals.append(item)
    if errors:
        raise ConfigError(errors)
    return vitals, skipped


def import_lighthouse(path: Path) -> tuple[str, list[str]]:
    """A budgets.yaml text for a Lighthouse CI budget.json, validated, and the notes on what was skipped."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"]) from None
    vitals, skipped = vitals_from_lighthouse(data, str(path))
    document = {"vitals": vitals}
    try:
        clashes = Budgets.model_validate(document).name_clashes()
    except ValidationError as exc:
        raise ConfigError(format_validation_error(f"{path} (imported)", exc)) from None
    if clashes:
        raise ConfigError([f"{path} (imported): {error}" for error in clashes])
    header = (f"# imported from {path.name} by perfbudget import-lighthouse: targets in milliseconds (CLS: the\n"
              "# score). Add service budgets beside them, then run `perfbudget generate --budgets <this file>`.\n")
    return header + yaml.safe_dump(document, sort_keys=False), skipped
