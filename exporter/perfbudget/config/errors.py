"""Configuration errors that name the file, the key path in it and the bad value."""

from __future__ import annotations

import difflib
import re
import reprlib
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError


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


def _plural(count: Any, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _bound(value: Any) -> str:
    # A float field's bounds arrive as floats: `le=60` on seconds reads better as 60 than as 60.0.
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _choices(expected: str) -> str:
    # pydantic gives the choices as one English phrase ("'a', 'b' or 'c'"); quoted choices may hold spaces.
    words = re.findall(r"'[^']*'|\"[^\"]*\"|[^\s,]+", expected)
    return ", ".join(word.strip("'\"") if word[:1] in "'\"" else word for word in words if word != "or")


def _is(text: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda ctx: text


_WHOLE, _NUMBER, _BOOL = _is("must be a whole number"), _is("must be a number"), _is("must be true or false")
_STRING, _LIST, _MAPPING = _is("must be a string"), _is("must be a list"), _is("must be a mapping")

# pydantic's error types (error["type"]) in our words, from the error's context (error["ctx"]).
_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "extra_forbidden": _is("unknown key"),
    "missing": _is("required key is missing"),
    "greater_than": lambda ctx: f"must be > {_bound(ctx['gt'])}",
    "greater_than_equal": lambda ctx: f"must be >= {_bound(ctx['ge'])}",
    "less_than": lambda ctx: f"must be < {_bound(ctx['lt'])}",
    "less_than_equal": lambda ctx: f"must be <= {_bound(ctx['le'])}",
    "multiple_of": lambda ctx: f"must be a multiple of {_bound(ctx['multiple_of'])}",
    "finite_number": _is("must be a finite number"),
    "int_type": _WHOLE,
    "int_parsing": _WHOLE,
    "int_from_float": _WHOLE,
    "int_parsing_size": _is("must be a whole number of at most 19 digits"),
    "float_type": _NUMBER,
    "float_parsing": _NUMBER,
    "bool_type": _BOOL,
    "bool_parsing": _BOOL,
    "string_type": _STRING,
    "string_unicode": _STRING,
    "string_too_short": lambda ctx: f"must have at least {_plural(ctx['min_length'], 'character')}",
    "string_too_long": lambda ctx: f"must have at most {_plural(ctx['max_length'], 'character')}",
    "string_pattern_mismatch": lambda ctx: f"must match the pattern {ctx['pattern']}",
    "too_short": lambda ctx: f"must have at least {_plural(ctx['min_length'], 'item')}",
    "too_long": lambda ctx: f"must have at most {_plural(ctx['max_length'], 'item')}",
    "literal_error": lambda ctx: f"must be one of {_choices(ctx['expected'])}",
    "enum": lambda ctx: f"must be one of {_choices(ctx['expected'])}",
    "list_type": _LIST,
    "tuple_type": _LIST,
    "set_type": _LIST,
    "frozen_set_type": _LIST,
    "iterable_type": _LIST,
    "dict_type": _MAPPING,
    "mapping_type": _MAPPING,
    "model_type": _MAPPING,
    "model_attributes_type": _MAPPING,
    "dataclass_type": _MAPPING,
    "path_type": _is("must be a path"),
    "path_not_file": _is("must be an existing file"),
    "path_not_directory": _is("must be an existing directory"),
    "path_exists": _is("must not exist yet"),
    "url_type": _is("must be a URL"),
    "url_parsing": lambda ctx: f"must be a URL ({ctx['error']})",
    "url_syntax_violation": lambda ctx: f"must be a URL ({ctx['error']})",
    "url_scheme": lambda ctx: f"must be a URL with scheme {_choices(ctx['expected_schemes'])}",
    "url_too_long": lambda ctx: f"must be a URL of at most {_plural(ctx['max_length'], 'character')}",
    "none_required": _is("must be empty (null)"),
}


def _message(error: Mapping[str, Any]) -> str:
    wording = _MESSAGES.get(error["type"])
    if wording is not None:
        try:
            return wording(error.get("ctx") or {})
        except KeyError:
            pass  # an error built by hand without the usual context: pydantic's own text below
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    # A type we have no wording for yet still reads like ours rather than like pydantic's.
    return re.sub(r"^Input should be ", "must be ", message)


def _members(annotation: Any) -> list[Any]:
    """The types a field may hold: `Annotated` unwrapped, a union split into its arms."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arm in get_args(annotation) for member in _members(arm)]
    return [annotation]


def _keys(model: type[BaseModel]) -> dict[str, Any]:
    """A model's keys as the user writes them (the alias where there is one) -> their annotations."""
    return {field.alias or name: field.annotation for name, field in model.model_fields.items()}


def _owners(root: type[BaseModel], loc: Sequence[int | str]) -> list[type[BaseModel]]:
    """The models that `loc` (a pydantic error location) reaches from `root`; several where a union is open."""
    here: list[Any] = [root]
    for part in loc:
        after: list[Any] = []
        for member in (m for annotation in here for m in _members(annotation)):
            origin = get_origin(member)
            if isinstance(member, type) and issubclass(member, BaseModel):
                if isinstance(part, str) and part in _keys(member):
                    after.append(_keys(member)[part])
                elif part == member.__name__:  # a union arm's tag: still the same value
                    after.append(member)
            elif isinstance(part, int) and origin in (list, tuple, set, frozenset, Sequence):
                after.extend(get_args(member)[:1])
            elif isinstance(part, str) and origin in (dict, Mapping):
                after.extend(get_args(member)[1:2])
        here = after
    return [m for a in here for m in _members(a) if isinstance(m, type) and issubclass(m, BaseModel)]


def _did_you_mean(root: type[BaseModel] | None, loc: Sequence[int | str]) -> str:
    if root is None or not loc or not isinstance(loc[-1], str):
        return ""
    known = sorted({key for owner in _owners(root, loc[:-1]) for key in _keys(owner)})
    close = difflib.get_close_matches(loc[-1], known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _model_named(title: str) -> type[BaseModel] | None:
    """The configuration model a ValidationError's title names, when exactly one model has that name."""
    found: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        model = pending.pop()
        for sub in model.__subclasses__():
            pending.append(sub)
            if sub.__name__ == title and sub not in found:
                found.append(sub)
    return found[0] if len(found) == 1 else None


def _bounded_repr() -> reprlib.Repr:
    # A value in a message is rendered within bounds: a huge list, mapping or string from a config file is
    # never walked whole (reprlib stops at these sizes and depths), only shown by its start.
    shown = reprlib.Repr()
    shown.maxlevel, shown.maxdict, shown.maxlist, shown.maxtuple, shown.maxset = 4, 20, 20, 20, 20
    shown.maxstring, shown.maxother, shown.maxlong = 400, 400, 100
    return shown


_SHOWN = _bounded_repr()


def _input(value: Any) -> str:
    text = _SHOWN.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# Keys whose values are secrets: an error names where the bad value is, never the value itself.
SECRET_KEYS = frozenset({"token", "tokens", "grafana_token", "headers", "password", "credentials",
                         "database"})  # database.url holds a password


def format_validation_error(
    source: str,
    exc: ValidationError,
    env_keys: Mapping[tuple[str | int, ...], str] | None = None,
    *,
    model: type[BaseModel] | None = None,
) -> list[str]:
    """One line per pydantic error: 'perfbudget.yml: beacons.max_batch: 0: must be >= 1'.

    Discriminated unions and model validators put type names in `loc`; only the user's keys are kept.
    An unknown key close to a known one of its model gets a "did you mean"; the model is `model`, or else
    the one named by the error's title.
    """
    errors = exc.errors(include_url=False)
    unknown_keys = any(error["type"] == "extra_forbidden" for error in errors)
    root = model if model is not None or not unknown_keys else _model_named(exc.title)
    lines = []
    for error in errors:
        loc = tuple(part for part in error["loc"] if isinstance(part, int) or not part[:1].isupper())
        where = source
        if env_keys:
            for prefix, env_name in env_keys.items():
                if loc[: len(prefix)] == prefix:
                    where = f"environment {env_name}"
        message = _message(error)
        if error["type"] == "extra_forbidden":
            message += _did_you_mean(root, error["loc"])
        if error["type"] in ("missing",):
            lines.append(f"{where}: {key_path(loc)}: {message}")
        else:
            secret = any(part in SECRET_KEYS for part in loc if isinstance(part, str))
            shown = "(hidden)" if secret else _input(error.get("input"))
            lines.append(f"{where}: {key_path(loc)}: {shown}: {message}")
    return lines
