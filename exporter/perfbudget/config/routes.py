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


def patterns_regex(patterns: Sequence[RoutePattern], first: int = 0) -> str:
    """The route patterns as one alternation of named groups `p<index>` (the caller fullmatches it)."""
    alternatives = []
    for i, pattern in enumerate(patterns, first):
        regex = template_regex(pattern.template) if pattern.template is not None else f"(?:{pattern.regex})"
        alternatives.append(f"(?P<p{i}>{regex}/?)")
    return "|".join(alternatives)


# Route labels are stored in a fixed-size table shared by the workers (perfbudget.routes.RouteTable).
MAX_ROUTE_LABEL_BYTES = 120


class RoutePattern(StrictModel):
    """A route template (`/inventory/:slug`, `/docs/*`) or a regex with the route label it maps to."""

    template: str | None = None
    regex: str | None = None
    route: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> RoutePattern:
        if (self.template is None) == (self.regex is None):
            raise ValueError("give either 'template' or 'regex' (with 'route'), not both or neither")
        if self.regex is not None:
            if not self.route:
                raise ValueError("a 'regex' pattern needs the 'route' label it maps to")
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r} does not compile: {exc}") from None
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

    @field_validator("patterns", mode="before")
    @classmethod
    def _strings_are_templates(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"template": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("patterns")
    @classmethod
    def _matchable_together(cls, value: list[RoutePattern]) -> list[RoutePattern]:
        """The patterns are matched as one alternation (perfbudget.routes.RouteNormalizer), where a regex's
        group numbers shift: backreferences and named groups, fine on their own, break there. Refuse them here."""
        for index, pattern in enumerate(value):
            if pattern.regex is None:
                continue
            try:
                re.compile(patterns_regex([pattern], first=index))
            except re.error:
                raise ValueError(f"[{index}] regex {pattern.regex!r}: backreferences are not supported in "
                                 "route regexes (the patterns are matched as one alternation)") from None
        try:
            re.compile(patterns_regex(value))
        except re.error as exc:
            raise ValueError(f"the patterns do not compile together ({exc}): named groups must not repeat "
                             "or be named p0, p1, ...") from None
        return value
