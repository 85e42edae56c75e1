"""Route patterns: the configuration that maps page paths to route labels, and its compiler.

The patterns are compiled here, beside their validation, so that what `perfbudget check` accepts is
exactly what the route normaliser (`perfbudget.routes`) matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .base import StrictModel

_TEMPLATE_PARAM = re.compile(r":[A-Za-z_][A-Za-z0-9_]*|\*")


def template_regex(template: str) -> str:
    """`/inventory/:slug` -> `/inventory/[^/]+`; `/docs/*` -> `/docs/.*` (anchored by the caller)."""
    out, pos = [], 0
    for match in _TEMPLATE_PARAM.finditer(template):
        out.append(re.escape(template[pos : match.start()]))
        out.append(".*" if match.group() == "*" else "[^/]+")
        pos = match.end()
    out.append(re.escape(template[pos:]))
    return "".join(out)


def patterns_regex(patterns: Sequence[RoutePattern]) -> str:
    """The route patterns as one alternation of named groups `p<index>` (the caller fullmatches it)."""
    alternatives = []
    for i, pattern in enumerate(patterns):
        regex = template_regex(pattern.template) if pattern.template is not None else f"(?:{pattern.regex})"
        alternatives.append(f"(?P<p{i}>{regex}/?)")
    return "|".join(alternatives)


# Route labels are stored in a fixed-size table shared by the workers (perfbudget.routes.RouteTable).
MAX_ROUTE_LABEL_BYTES = 120


_RESERVED_GROUP = re.compile(r"p[0-9]+")
_CONDITIONAL_BY_NUMBER = re.compile(r"\(\?\([0-9]")


def _syntax(regex: str) -> str:
    """`regex` with its escapes and character classes blanked out, so that a scan finds only real syntax."""
    out, i = [], 0
    while i < len(regex):
        if regex[i] == "\\":
            end = i + 2
        elif regex[i] == "[":
            end = i + 1
            end += regex[end : end + 1] == "^"
            end += regex[end : end + 1] == "]"  # a `]` first in a class is a literal
            while end < len(regex) and regex[end] != "]":
                end += 2 if regex[end] == "\\" else 1
            end += 1
        else:
            out.append(regex[i])
            i += 1
            continue
        out.append("_" * (min(end, len(regex)) - i))
        i = end
    return "".join(out)


def _refers_by_number(regex: str) -> bool:
    """Whether `regex` (which compiles) refers to one of its groups by number: `\\1` or `(?(1)...)`.

    In the alternation of all patterns a regex's groups are renumbered, so such a reference would silently
    name another group. The compile below puts the regex inside as many open groups as it has groups itself:
    every number it can refer to then names one of those, and referring to an open group does not compile.
    Conditionals are not checked that way by `re`, hence the scan.
    """
    depth = max(re.compile(regex).groups, 1)
    try:
        re.compile("(" * depth + f"(?:{regex})" + ")" * depth)
    except re.error:
        return True
    return _CONDITIONAL_BY_NUMBER.search(_syntax(regex)) is not None


class RoutePattern(StrictModel):
    """A route template (`/inventory/:slug`, `/docs/*`) or a regex with the route label it maps to."""

    template: str | None = None
    regex: str | None = None
    route: str | None = None

    @field_validator("regex")
    @classmethod
    def _matchable_in_the_alternation(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            groups = re.compile(value).groupindex
        except re.error as exc:
            raise ValueError(f"does not compile: {exc}") from None
        if _refers_by_number(value):
            raise ValueError("backreferences by number are not supported in route regexes (the patterns are "
                             "matched as one alternation, where group numbers shift); name the group: "
                             "(?P<name>...) and (?P=name)")
        reserved = [name for name in groups if _RESERVED_GROUP.fullmatch(name)]
        if reserved:
            raise ValueError(f"the group name {reserved[0]!r} is reserved (the patterns are matched as one "
                             "alternation of groups named p0, p1, ...)")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> RoutePattern:
        if (self.template is None) == (self.regex is None):
            raise ValueError("give either 'template' or 'regex' (with 'route'), not both or neither")
        if self.regex is not None and not self.route:
            raise ValueError("a 'regex' pattern needs the 'route' label it maps to")
        if self.template is not None and not self.template.startswith("/"):
            raise ValueError(f"template {self.template!r} must start with '/'")
        label = self.template if self.template is not None else self.route or ""
        if len(label.encode()) > MAX_ROUTE_LABEL_BYTES:
            raise ValueError(f"route label {label[:40]!r}... is longer than {MAX_ROUTE_LABEL_BYTES} bytes")
        return self


class RoutesConfig(StrictModel):
    # Strings are templates; mappings are {template: ...} or {regex: ..., route: ...}.
    patterns: list[RoutePattern] = Field(default_factory=list)
    # Hard cap on distinct route label values; further routes are counted under "other".
    max_routes: Annotated[int, Field(ge=1, le=10_000)] = 200
    # Paths no pattern matches: "collapse" keeps the path with id-like segments replaced by ":id";
    # "other" sends them all to "other".
    unmatched: Literal["collapse", "other"] = "collapse"

    def labels(self) -> list[str]:
        """Every configured route label, in pattern order, once each: admitted at start, never crowded out."""
        return list(dict.fromkeys(pattern.template or pattern.route or "" for pattern in self.patterns))

    @model_validator(mode="after")
    def _patterns_fit_the_cap(self) -> RoutesConfig:
        if len(self.labels()) > self.max_routes:
            raise ValueError(f"the patterns have {len(self.labels())} distinct route labels, more than max_routes "
                             f"({self.max_routes}): every configured route has a reserved slot")
        return self

    @field_validator("patterns", mode="before")
    @classmethod
    def _strings_are_templates(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"template": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("patterns")
    @classmethod
    def _matchable_together(cls, value: list[RoutePattern]) -> list[RoutePattern]:
        """The patterns are matched as one alternation (perfbudget.routes.RouteNormalizer), where a group name
        may appear once: each pattern is checked alone by RoutePattern; what is left is names that repeat."""
        owners: dict[str, int] = {}
        for index, pattern in enumerate(value):
            if pattern.regex is None:
                continue
            for name in re.compile(pattern.regex).groupindex:
                if name in owners:
                    raise ValueError(f"[{index}] regex {pattern.regex!r}: the group name {name!r} is already "
                                     f"used by [{owners[name]}] (the patterns are matched as one alternation, "
                                     "where a group name may appear once)")
                owners[name] = index
        try:
            re.compile(patterns_regex(value))
        except re.error as exc:
            raise ValueError(f"the patterns do not compile together: {exc}") from None
        return value
