"""Config errors in our words: one valid file, one field changed per case, the exact line it gives."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from perfbudget.config import ConfigError, format_validation_error, load_config
from perfbudget.config.base import StrictModel

VALID: dict[str, Any] = {
    "server": {"listen_address": "127.0.0.1:9478", "workers": 2, "server": "granian", "threads": 5},
    "beacons": {"max_batch": 32, "allowed_origins": ["https://shop.test"], "rate_limit": "off",
                "navigation_type_label": False},
    "routes": {"patterns": ["/products/:id", {"regex": "/docs/(?P<page>[a-z]+)", "route": "/docs/:page"}],
               "max_routes": 200, "unmatched": "collapse"},
    "auth": {"tokens": [{"name": "ci", "token": "a-token-long-enough", "scopes": ["webhook"]}]},
    "otlp": {"endpoint": "http://collector:4317", "protocol": "grpc", "interval_seconds": 60,
             "headers": {"x-team": "web"}},
    "playbooks": {"execute": ["optimize-images"], "max_risk": "safe", "cooldown_seconds": 900},
    "actions": {"allowed_dirs": ["/srv/site"], "commands": {"build": ["npm", "run", "build"]}},
    "data_dir": "/var/lib/perfbudget",
}

MISSING = object()


def changed(path: str, value: Any) -> dict[str, Any]:
    """VALID with one key changed: `path` is dotted, a number indexes a list; MISSING deletes the key."""
    data = copy.deepcopy(VALID)
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    node: Any = data
    for part in parents:
        node = node[part]
    if value is MISSING:
        del node[last]
    else:
        node[last] = value
    return data


def load(tmp_path: Path, data: dict[str, Any]) -> tuple[Path, list[str]]:
    path = tmp_path / "perfbudget.yml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_config(path, env={})
    except ConfigError as exc:
        return path, exc.errors
    return path, []


def test_the_valid_config_of_the_table_loads(tmp_path: Path) -> None:
    assert load(tmp_path, VALID)[1] == []


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        # Bounds
        ("beacons.max_batch", 0, "beacons.max_batch: 0: must be >= 1"),
        ("beacons.max_batch", 1001, "beacons.max_batch: 1001: must be <= 1000"),
        ("otlp.interval_seconds", 0, "otlp.interval_seconds: 0: must be > 0"),
        ("otlp.interval_seconds", 3600.5, "otlp.interval_seconds: 3600.5: must be <= 3600"),
        # Types
        ("server.workers", "two", "server.workers: 'two': must be a whole number"),
        ("server.workers", 2.5, "server.workers: 2.5: must be a whole number"),
        ("server.workers", None, "server.workers: None: must be a whole number"),
        ("otlp.interval_seconds", "a minute", "otlp.interval_seconds: 'a minute': must be a number"),
        ("beacons.navigation_type_label", "maybe", "beacons.navigation_type_label: 'maybe': must be true or false"),
        ("playbooks.execute.0", 7, "playbooks.execute[0]: 7: must be a string"),
        ("beacons.allowed_origins", "https://shop.test",
         "beacons.allowed_origins: 'https://shop.test': must be a list"),
        ("actions.commands", ["npm"], "actions.commands: ['npm']: must be a mapping"),
        ("otlp", "http://collector:4317", "otlp: 'http://collector:4317': must be a mapping"),
        ("routes.patterns.1", 5, "routes.patterns[1]: 5: must be a mapping"),
        ("data_dir", 5, "data_dir: 5: must be a path"),
        # Choices
        ("server.server", "uwsgi", "server.server: 'uwsgi': must be one of granian, gunicorn, gunicorn-gthread"),
        ("routes.unmatched", "drop", "routes.unmatched: 'drop': must be one of collapse, other"),
        ("otlp.protocol", "udp", "otlp.protocol: 'udp': must be one of grpc, http/protobuf"),
        ("playbooks.max_risk", "unsafe", "playbooks.max_risk: 'unsafe': must be one of safe, moderate, high"),
        # Lengths and patterns (under auth.tokens every value is hidden)
        ("auth.tokens.0.name", "", "auth.tokens[0].name: (hidden): must have at least 1 character"),
        ("auth.tokens.0.name", "x" * 65, "auth.tokens[0].name: (hidden): must have at most 64 characters"),
        ("auth.tokens.0.name", "c i", "auth.tokens[0].name: (hidden): must match the pattern ^[A-Za-z0-9_.-]+$"),
        ("auth.tokens.0.scopes.0", "admin",
         "auth.tokens[0].scopes[0]: (hidden): must be one of webhook, execute, reload, read"),
        # Keys
        ("auth.tokens.0.token", MISSING, "auth.tokens[0].token: required key is missing"),
        ("beacons.colour", "red", "beacons.colour: 'red': unknown key"),
        ("beacons.max_bacth", 32, "beacons.max_bacth: 32: unknown key (did you mean max_batch?)"),
        ("servr", {}, "servr: {}: unknown key (did you mean server?)"),
        ("routes.patterns.1.rout", "/d", "routes.patterns[1].rout: '/d': unknown key (did you mean route?)"),
        ("auth.tokens.0.scope", ["webhook"], "auth.tokens[0].scope: (hidden): unknown key (did you mean scopes?)"),
        # Our own validators keep their words
        ("server.listen_address", "localhost",
         "server.listen_address: 'localhost': must be HOST:PORT with a port between 1 and 65535"),
        ("auth.tokens.0.token", "short", "auth.tokens[0].token: (hidden): a token must be at least 16 characters"),
        # Route regexes: the error names the one pattern at fault
        ("routes.patterns.1.regex", "/docs/(", "routes.patterns[1].regex: '/docs/(': does not compile: missing ), "
         "unterminated subpattern at position 6"),
        ("routes.patterns.1.regex", "/(a)/(b)/\\2",
         "routes.patterns[1].regex: '/(a)/(b)/\\\\2': backreferences by number are not supported in route regexes "
         "(the patterns are matched as one alternation, where group numbers shift); name the group: "
         "(?P<name>...) and (?P=name)"),
        ("routes.patterns.1.regex", "/(a)?(?(1)b|c)",
         "routes.patterns[1].regex: '/(a)?(?(1)b|c)': backreferences by number are not supported in route regexes "
         "(the patterns are matched as one alternation, where group numbers shift); name the group: "
         "(?P<name>...) and (?P=name)"),
        ("routes.patterns.1.regex", "/docs/(?P<p0>[a-z]+)",
         "routes.patterns[1].regex: '/docs/(?P<p0>[a-z]+)': the group name 'p0' is reserved (the patterns are "
         "matched as one alternation of groups named p0, p1, ...)"),
        ("routes.patterns.0", {"regex": "/x/(?P<page>[0-9]+)", "route": "/x/:page"},
         "routes.patterns: [{'regex': '/x/(?P<page>[0-9]+)', 'route': '/x/:page'}, {'regex': '/docs/(?P<..."
         ": [1] regex '/docs/(?P<page>[a-z]+)': the group name 'page' is already used by [0] (the patterns are "
         "matched as one alternation, where a group name may appear once)"),
    ],
)
def test_one_changed_field_gives_exactly_one_error_in_our_words(
    tmp_path: Path, path: str, value: Any, error: str
) -> None:
    file, errors = load(tmp_path, changed(path, value))
    assert errors == [f"{file}: {error}"]


def test_a_named_backreference_and_escaped_look_alikes_are_accepted(tmp_path: Path) -> None:
    # `[\1]` and `\01` are octal escapes, `\(?(1)` an optional `(` before a group, `(?P=page)` names its group.
    regex = r"/docs/(?P<page>[a-z]+)/(?P=page)[\1]\01\(?(1)"
    assert load(tmp_path, changed("routes.patterns.1.regex", regex))[1] == []


class _Probe(StrictModel):
    max_batch: int = 1


def test_the_model_given_explicitly_is_the_one_whose_keys_are_suggested() -> None:
    with pytest.raises(ValidationError) as info:
        _Probe.model_validate({"max_bacth": 3})
    assert format_validation_error("probe", info.value, model=_Probe) == [
        "probe: max_bacth: 3: unknown key (did you mean max_batch?)"]


def test_a_big_bad_value_is_shown_by_its_start(tmp_path: Path) -> None:
    # A message shows a bounded start of the value (rendered by reprlib within bounds, never walked whole).
    path, errors = load(tmp_path, {"server": {"listen_address": list(range(2_000))},
                                   "data_dir": {"x" * 100_000: 1}})
    assert errors[0].startswith(f"{path}: server.listen_address: [0, 1, 2,")
    assert errors[1].startswith(f"{path}: data_dir: {{'xxxx")
    assert len(errors) == 2 and all(len(error) < 400 for error in errors)
