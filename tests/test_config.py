"""Strict configuration: a table of invalid files, each with its exact error; env overrides; check."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfbudget.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "perfbudget.yml"
    path.write_text(text)
    return path


def test_no_file_gives_the_embedded_defaults() -> None:
    config = load_config(None, env={})
    assert config.server.listen_address == "127.0.0.1:9478"
    assert config.beacons.max_body_bytes == 65536
    assert config.beacons.rate_limit == "50/second"
    assert config.otlp.endpoint is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("beacons:\n  max_batch: 0\n", "beacons.max_batch: 0: must be >= 1"),
        ("beacons:\n  bogus: 1\n", "beacons.bogus: 1: unknown key"),
        ("nonsense: true\n", "nonsense: True: unknown key"),
        ("server:\n  listen_address: localhost\n",
         "server.listen_address: 'localhost': must be HOST:PORT with a port between 1 and 65535"),
        ("beacons:\n  allowed_origins: ['https://shop.test/path']\n",
         "beacons.allowed_origins: ['https://shop.test/path']: 'https://shop.test/path' is not an origin like "
         "https://shop.example.com (no path)"),
        ("beacons:\n  rate_limit: lots\n",
         "beacons.rate_limit: 'lots': must be Flask-Limiter notation like '50/second' or '1000 per minute', or 'off'"),
        ("routes:\n  patterns:\n    - {regex: '(', route: x}\n",
         "routes.patterns[0].regex: '(': does not compile: missing ), unterminated subpattern at position 0"),
        ("routes:\n  patterns:\n    - {regex: 'a'}\n",
         "routes.patterns[0]: {'regex': 'a'}: a 'regex' pattern needs the 'route' label it maps to"),
        ("routes:\n  patterns: ['no-slash']\n",
         "routes.patterns[0]: {'template': 'no-slash'}: template 'no-slash' must start with '/'"),
        ("routes:\n  unmatched: drop\n", "routes.unmatched: 'drop': must be one of collapse, other"),
        ("auth:\n  tokens:\n    - {name: ci, token: short}\n",
         "auth.tokens[0].token: (hidden): a token must be at least 16 characters"),
        ("auth:\n  tokens: ['a-secret-written-as-a-string']\n",
         "auth.tokens[0]: (hidden): must be a mapping"),
        ("routes:\n  patterns:\n    - {regex: '/(a)/\\1', route: /a}\n",
         "routes.patterns[0].regex: '/(a)/\\\\1': backreferences by number are not supported in route regexes "
         "(the patterns are matched as one alternation, where group numbers shift); name the group: "
         "(?P<name>...) and (?P=name)"),
        ("routes:\n  patterns: ['/" + "a" * 130 + "']\n",
         "routes.patterns[0]: {'template': '/" + "a" * 62 + "...: route label '/" + "a" * 39
         + "'... is longer than 120 bytes"),
        ("otlp:\n  protocol: udp\n", "otlp.protocol: 'udp': must be one of grpc, http/protobuf"),
    ],
)
def test_an_invalid_config_names_file_key_path_and_value(tmp_path: Path, text: str, error: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.errors == [f"{path}: {error}"]


def test_every_error_of_a_file_is_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "beacons:\n  max_batch: 0\n  max_body_bytes: 1\nextra: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert len(info.value.errors) == 3


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a: [1\n", ":2:1: invalid YAML: expected ',' or ']', but got '<stream end>'"),
        ("- 1\n- 2\n", ": (top level): the file must hold a mapping of keys, not list"),
    ],
)
def test_a_file_that_is_not_a_yaml_mapping_is_refused(tmp_path: Path, text: str, error: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.errors == [f"{path}{error}"]


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read: No such file or directory"):
        load_config(tmp_path / "nope.yml", env={})


def test_environment_overrides_win_and_errors_name_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "beacons:\n  rate_limit: 10/second\n")
    config = load_config(path, env={"PERFBUDGET_RATE_LIMIT": "off", "PERFBUDGET_DATA_DIR": "/srv/pb",
                                    "PERFBUDGET_API_TOKEN": "a-long-enough-token"})
    assert config.beacons.rate_limit == "off"
    assert str(config.data_dir) == "/srv/pb"
    assert [(t.name, t.token.get_secret_value()) for t in config.auth.tokens] == [("env", "a-long-enough-token")]
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"PERFBUDGET_WORKERS": "zero"})
    assert info.value.errors == [
        "environment PERFBUDGET_WORKERS: server.workers: 'zero': must be a whole number"]


def test_perfbudget_config_names_the_file_when_no_path_is_given(tmp_path: Path) -> None:
    path = write(tmp_path, "beacons:\n  max_batch: 7\n")
    assert load_config(None, env={"PERFBUDGET_CONFIG": str(path)}).beacons.max_batch == 7


def test_yaml_nested_past_the_parser_stack_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "perfbudget.yml"
    path.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.errors == [f"{path}: invalid YAML: nested too deeply to be a configuration"]
