"""Prometheus rule files as the stages build them: recording rules, alerts, groups, and the file they go in.

The names follow Prometheus's own `rulefmt` package, which Sloth's stages return too; `to_dict()` gives the
document `promtool check rules` reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import parse_duration


@dataclass(frozen=True, slots=True)
class Recording:
    record: str
    expr: str

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "expr": self.expr}


@dataclass(frozen=True, slots=True)
class Alert:
    alert: str
    expr: str
    for_: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if parse_duration(self.for_) > 0:
            out["for"] = self.for_
        out["labels"] = dict(self.labels)
        out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True, slots=True)
class RuleGroup:
    name: str
    rules: tuple[Recording | Alert, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rules": [rule.to_dict() for rule in self.rules]}


@dataclass(frozen=True, slots=True)
class RuleFile:
    """One file under alertmanager/rules/, named `<stem>.yml`."""

    stem: str
    groups: tuple[RuleGroup, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return groups_document(self.groups)

    @classmethod
    def from_stages(cls, stem: str, *stages: Iterable[RuleGroup]) -> RuleFile:
        """The groups the stages built, in order; a budget that is off leaves no empty group in the file."""
        return cls(stem, tuple(group for groups in stages for group in groups if group.rules))

    @property
    def alerts(self) -> list[Alert]:
        return [rule for group in self.groups for rule in group.rules if isinstance(rule, Alert)]


def groups_document(groups: Iterable[RuleGroup]) -> dict[str, Any]:
    """A stage's groups as the `groups:` document of a rule file (what the stage goldens hold)."""
    return {"groups": [group.to_dict() for group in groups]}
