"""Configuration errors that name the file, the key path in it and the bad value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError


class ConfigError(Exception):
    """One or more problems in a configuration file; `errors` lists every one, each a full sentence."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def key_path(loc: Iterable[int | str]) -> str:
    """('routes', 'patterns', 2, 'regex') -> 'routes.patterns[2].regex'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _input(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return repr(value)


# Keys whose values are secrets: an error names where the bad value is, never the value itself.
SECRET_KEYS = frozenset({"token", "tokens", "grafana_token", "headers", "password", "credentials"})


def format_validation_error(
    source: str, exc: ValidationError, env_keys: Mapping[tuple[str | int, ...], str] | None = None
) -> list[str]:
    """One line per pydantic error: 'perfbudget.yml: beacons.max_batch: 0: must be >= 1'.

    Discriminated unions and model validators put type names in `loc`; only the user's keys are kept.
    """
    lines = []
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if isinstance(part, int) or not part[:1].isupper())
        where = source
        if env_keys:
            for prefix, env_name in env_keys.items():
                if loc[: len(prefix)] == prefix:
                    where = f"environment {env_name}"
        message = _message(error)
        if error["type"] in ("missing",):
            lines.append(f"{where}: {key_path(loc)}: {message}")
        else:
            secret = any(part in SECRET_KEYS for part in loc if isinstance(part, str))
            shown = "(hidden)" if secret else _input(error.get("input"))
            lines.append(f"{where}: {key_path(loc)}: {shown}: {message}")
    return lines
