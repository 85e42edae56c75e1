"""Alertmanager's label matchers (`name=value`, `!=`, `=~`, `!~`) with its semantics.

As in Alertmanager, a regular expression is fully anchored (`=~"LCP"` does not match `LCP2`), and a label
the alert does not have counts as the empty string, so `device!="phone"` matches an alert without `device`
and `device=~".*"` matches every alert. A playbook's matchers must all match (they are ANDed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Op = Literal["=", "!=", "=~", "!~"]

# Longest operators first, so `!~` is never read as `!` followed by `~`.
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}


def _unquote(text: str) -> str:
    """A value as Alertmanager reads it: `"..."` with \\n, \\t, \\\\ and \\" escapes, or the bare text."""
    if not text.startswith('"'):
        if '"' in text:
            raise ValueError("an unquoted value cannot contain '\"'; quote the whole value")
        return text
    if len(text) < 2 or not text.endswith('"'):
        raise ValueError("the quoted value has no closing '\"'")
    out: list[str] = []
    body = iter(text[1:-1])
    for char in body:
        if char == '"':
            raise ValueError("a '\"' inside a quoted value must be escaped as \\\"")
        if char == "\\":
            escaped = next(body, None)
            if escaped is None:
                raise ValueError("the quoted value ends with a lone backslash")
            out.append(_ESCAPES.get(escaped, "\\" + escaped))
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Matcher:
    """One label matcher; build it with `parse_matcher`."""

    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """'metric=~"LCP|FCP"' -> Matcher. Raises ValueError saying what is wrong."""
    found = _MATCHER.match(text)
    if not found:
        raise ValueError("is not a matcher like name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\"")
    name, op, raw = found.groups()
    value = _unquote(raw)
    regex: re.Pattern[str] | None = None
    if op in ("=~", "!~"):
        try:
            # fullmatch anchors both ends, as Alertmanager wraps every regex in ^(?:...)$.
            regex = re.compile(value)
        except re.error as exc:
            raise ValueError(f"regex {value!r} does not compile: {exc}") from None
    return Matcher(name, op, value, regex)  # type: ignore[arg-type]


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches; an empty list matches nothing (a playbook without `match` is manual)."""
    seen = False
    for matcher in matchers:
        seen = True
        if not matcher.matches(labels):
            return False
    return seen
