"""What `promtool test rules` files are made of: cases, expected alerts, and the series text (counters and
gauges in promtool's expanding notation) every rule-test builder shares.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .fields import parse_duration

EXAMPLE_ROUTES = ("/checkout", "/", "/test/page")
EXPORTER = {"job": "perfbudget", "instance": "perfbudget:9478"}


class RuleTestError(ValueError):
    """The budgets cannot be turned into rule tests (for example a budget that never applies)."""


@dataclass(frozen=True, slots=True)
class Expect:
    """At `minute`, alert `name` fires exactly for these (labels, annotations); none when empty."""

    minute: int
    name: str
    alerts: tuple[tuple[Mapping[str, str], Mapping[str, str]], ...] = ()


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    series: tuple[tuple[str, str], ...]
    expects: tuple[Expect, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "interval": "1m",
            "input_series": [{"series": series, "values": values} for series, values in self.series],
            "alert_rule_test": [
                {"eval_time": f"{expect.minute}m", "alertname": expect.name,
                 "exp_alerts": [{"exp_labels": dict(labels), "exp_annotations": dict(annotations)}
                                for labels, annotations in expect.alerts]}
                for expect in self.expects
            ],
        }


# --- series values ----------------------------------------------------------------------------------

def num(value: float) -> str:
    return f"{value:.12g}"


def counter(segments: Sequence[tuple[float, int]]) -> str:
    """A counter from (increase per minute, minutes) segments, starting at 0 at minute 0."""
    parts: list[str] = []
    value = 0.0
    for index, (step, minutes) in enumerate(segments):
        if index == 0:
            parts.append(f"0+{num(step)}x{minutes}")
            value = step * minutes
        else:
            parts.append(f"{num(value + step)}+{num(step)}x{minutes - 1}")
            value += step * minutes
    return " ".join(parts)


def gauge(segments: Sequence[tuple[float, int]]) -> str:
    """A gauge from (value, minutes) segments (the first one also covers minute 0)."""
    return " ".join(f"{num(value)}+0x{minutes if index == 0 else minutes - 1}"
                    for index, (value, minutes) in enumerate(segments))


def series(name: str, labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return f"{name}{{{inner}}}"


def minutes(duration: str) -> int:
    return math.ceil(parse_duration(duration) / 60)


def example_match(regex: str, candidates: Sequence[str] = ()) -> str:
    """A string `regex` fully matches: the first candidate that does, else the regex with its wildcards
    replaced by plain characters."""
    for candidate in candidates:
        if re.fullmatch(regex, candidate):
            return candidate
    text = regex
    for pattern, repl in ((r"\[\^[^\]]*\][+*]", "x"), (r"\.[*+]", "x"), (r"\\d[+*]?", "1"), (r"\\w[+*]?", "x"),
                          (r"\.", "0"), (r"[\^$]", ""), (r"\\(.)", r"\1")):
        text = re.sub(pattern, repl, text)
    if re.fullmatch(regex, text):
        return text
    raise RuleTestError(f"cannot find an example value for the regex {regex!r}")
