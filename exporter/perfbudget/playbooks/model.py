"""Playbooks (`playbooks/*.yaml`): loaded whole and validated strictly, every error with file, key path and value.

The bundled playbooks are always loaded first; a playbook in `playbooks.directory` with the same id replaces
the bundled one. Each action's `params` are validated against its kind's `Params` model here, at load time,
so a typo in a playbook stops `perfbudget check` and `serve` instead of failing an alert at 3 a.m.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails

from ..config.base import StrictModel
from ..config.errors import ConfigError, format_validation_error
from ..config.loader import read_yaml_mapping
from ..config.model import Config
from ..config.playbooks import Risk
from .actions import KINDS
from .matchers import Matcher, matches_all, parse_matcher

RISKS: tuple[Risk, ...] = ("safe", "moderate", "high")
Level = Literal["low", "medium", "high"]
LEVELS: tuple[str, ...] = ("low", "medium", "high")

_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
_SUFFIXES = (".yaml", ".yml")


def _one_of(value: Any, allowed: tuple[str, ...]) -> Any:
    if isinstance(value, str) and value not in allowed:
        raise ValueError(f"is not one of {', '.join(allowed)}")
    return value


class Action(StrictModel):
    """One step of a playbook. `params` are checked against the kind's own `Params` model by the loader."""

    id: Annotated[str, Field(pattern=_ID)]
    description: Annotated[str, Field(min_length=1)]
    kind: str
    automated: bool
    risk: Risk
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("risk", mode="before")
    @classmethod
    def _risk(cls, value: Any) -> Any:
        return _one_of(value, RISKS)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in KINDS:
            known = ", ".join(sorted(KINDS)) or "(no action kinds are installed)"
            raise ValueError(f"is not one of {known}")
        return value

    def allowed_at(self, max_risk: Risk) -> bool:
        """Automated and at most `max_risk`: the only actions an execute may apply."""
        return self.automated and RISKS.index(self.risk) <= RISKS.index(max_risk)


class Playbook(StrictModel):
    """A fix for one budget: what it does, what it saves, which alerts start it, and its actions."""

    id: Annotated[str, Field(pattern=_ID)]
    name: Annotated[str, Field(min_length=1)]
    # One metric or several (render-blocking resources hurt both LCP and FCP); kept as a tuple.
    metric: tuple[str, ...]
    category: Annotated[str, Field(min_length=1)]
    impact: Level
    effort: Level
    description: Annotated[str, Field(min_length=1)]
    expected_improvement: Annotated[str, Field(min_length=1, alias="expectedImprovement")]
    # Alertmanager-style matchers on alert labels, ANDed; or a list of such lists, any one of which may match
    # (`[[metric="TTFB"], [metric="LCP", cause="time_to_first_byte"]]`); no matchers = only run by hand.
    match: tuple[str, ...] | tuple[tuple[str, ...], ...] = ()
    actions: Annotated[list[Action], Field(min_length=1)]

    @field_validator("metric", mode="before")
    @classmethod
    def _metrics(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            if not value:
                raise ValueError("names no metric")
            for item in value:
                if not isinstance(item, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", item):
                    raise ValueError(f"{item!r} is not a metric name like LCP or api_latency")
        return value

    @field_validator("impact", "effort", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return _one_of(value, LEVELS)

    @field_validator("match", mode="before")
    @classmethod
    def _match(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        if any(isinstance(item, list) for item in value):
            for index, alternative in enumerate(value):
                if not isinstance(alternative, list) or not alternative:
                    raise ValueError(f"[{index}]: {alternative!r} is not a list of matchers: a match of "
                                     "alternatives is a list of lists, each with at least one matcher")
                _check_matchers(alternative, f"[{index}]")
        else:
            _check_matchers(value, "")
        return value

    @property
    def alternatives(self) -> tuple[tuple[Matcher, ...], ...]:
        """The matcher sets, any one of which starts the playbook (one set for a flat `match`)."""
        sets: list[tuple[str, ...]] = []
        for item in self.match:
            if isinstance(item, str):
                sets = [tuple(text for text in self.match if isinstance(text, str))]
                break
            sets.append(item)
        return tuple(tuple(parse_matcher(text) for text in matchers) for matchers in sets or [()])

    def matches(self, labels: Mapping[str, str]) -> bool:
        return any(matches_all(matchers, labels) for matchers in self.alternatives)

    def summary(self) -> dict[str, Any]:
        """The playbook as `GET /api/perf-fix` lists it."""
        return {
            "id": self.id,
            "name": self.name,
            "metric": self.metric[0],  # the contract's string: the primary vital
            "metrics": list(self.metric),  # every metric it addresses
            "category": self.category,
            "impact": self.impact,
            "effort": self.effort,
            "description": self.description,
            "expectedImprovement": self.expected_improvement,
            "match": [item if isinstance(item, str) else list(item) for item in self.match],
            "actions": [
                {"id": a.id, "description": a.description, "kind": a.kind, "automated": a.automated, "risk": a.risk}
                for a in self.actions
            ],
        }


def _check_matchers(value: list[Any], where: str) -> None:
    for index, text in enumerate(value):
        if not isinstance(text, str):
            raise ValueError(f"{where}[{index}]: {text!r} is not a matcher string")
        try:
            parse_matcher(text)
        except ValueError as exc:
            raise ValueError(f"{where}[{index}]: {text!r} {exc}") from None


@dataclass(frozen=True)
class LoadedPlaybook:
    """A validated playbook, its actions' parameters parsed by their kinds, and where it came from."""

    spec: Playbook
    params: tuple[BaseModel, ...]
    source: str

    @property
    def id(self) -> str:
        return self.spec.id


class Playbooks(Mapping[str, LoadedPlaybook]):
    """Every loaded playbook by id, in load order."""

    def __init__(self, items: Mapping[str, LoadedPlaybook]) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> LoadedPlaybook:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def matching(self, labels: Mapping[str, str]) -> list[LoadedPlaybook]:
        """The playbooks an alert with `labels` starts."""
        return [book for book in self._items.values() if book.spec.matches(labels)]


def bundled_directory() -> Path:
    """The bundled playbooks: inside the installed wheel, else `playbooks/` beside `exporter/` in a checkout."""
    packaged = resources.files("perfbudget").joinpath("bundled", "playbooks")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "playbooks"


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in _SUFFIXES and p.is_file())


def _parse_params(source: str, spec: Playbook) -> tuple[tuple[BaseModel, ...], list[str]]:
    parsed: list[BaseModel] = []
    details: list[InitErrorDetails] = []
    for index, action in enumerate(spec.actions):
        try:
            parsed.append(KINDS[action.kind].Params.model_validate(action.params))
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                # Re-rooted under the action, so the message names `actions[2].params.quality`.
                details.append({
                    "type": error["type"],
                    "loc": ("actions", index, "params", *error["loc"]),
                    "input": error.get("input"),
                    "ctx": error.get("ctx", {}),
                })
    if not details:
        return tuple(parsed), []
    combined = ValidationError.from_exception_data("Playbook", details)
    return (), format_validation_error(source, combined)


def load_file(path: Path, source: str) -> LoadedPlaybook:
    """One playbook file; `source` is how errors name it ('playbooks/images.yaml')."""
    try:
        data = read_yaml_mapping(path)
        spec = Playbook.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None
    except RecursionError:
        # PyYAML's parser recurses once per nesting level: `[[[[...` a few thousand deep overflows it.
        raise ConfigError([f"{source}: (top level): nested too deeply to be a playbook"]) from None
    params, errors = _parse_params(source, spec)
    seen: dict[str, int] = {}
    for index, action in enumerate(spec.actions):
        if action.id in seen:
            errors.append(f"{source}: actions[{index}].id: {action.id!r}: already used by actions[{seen[action.id]}]")
        seen.setdefault(action.id, index)
    if errors:
        raise ConfigError(errors)
    return LoadedPlaybook(spec, params, source)


def _load_directory(directory: Path, label: str, errors: list[str]) -> dict[str, LoadedPlaybook]:
    if not directory.is_dir():
        errors.append(f"{label}: playbook directory does not exist or is not a directory")
        return {}
    found: dict[str, LoadedPlaybook] = {}
    for path in _files(directory):
        source = f"{label}/{path.name}"
        try:
            book = load_file(path, source)
        except ConfigError as exc:
            errors += exc.errors
            continue
        if book.id in found:
            errors.append(f"{source}: id: {book.id!r}: already used by {found[book.id].source}")
            continue
        found[book.id] = book
    return found


def load_playbooks(config: Config) -> Playbooks:
    """The bundled playbooks, then `playbooks.directory`'s (same id replaces); every error or none."""
    errors: list[str] = []
    books = _load_directory(bundled_directory(), "playbooks", errors)
    if config.playbooks.directory is not None:
        books.update(_load_directory(config.playbooks.directory, str(config.playbooks.directory), errors))
    for name in config.playbooks.execute:
        if name not in books and not errors:
            errors.append(f"config: playbooks.execute: {name!r}: no such playbook (known: {', '.join(books)})")
    if errors:
        raise ConfigError(errors)
    return Playbooks(books)
