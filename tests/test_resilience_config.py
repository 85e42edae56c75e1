"""The config loader under fuzzing: any YAML gives a Config or a ConfigError, never another exception."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfbudget.config import Config, ConfigError, load_config

keys = st.sampled_from(["server", "beacons", "routes", "auth", "otlp", "playbooks", "actions", "data_dir",
                        "listen_address", "workers", "rate_limit", "patterns", "max_routes", "regex", "template",
                        "route", "tokens", "allowed_origins", "bogus"])
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.dictionaries(keys, values, max_size=6) | values)
def test_any_yaml_document_loads_or_fails_with_precise_errors(tmp_path: Path, document: object) -> None:
    path = tmp_path / "fuzz.yml"
    path.write_text(yaml.safe_dump(document))
    try:
        config = load_config(path, env={})
    except ConfigError as exc:
        assert exc.errors and all(error.startswith(str(path)) for error in exc.errors)
    else:
        assert isinstance(config, Config)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_any_bytes_load_or_fail_with_a_config_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "fuzz.yml"
    path.write_bytes(raw)
    try:
        load_config(path, env={})
    except ConfigError as exc:
        assert exc.errors and all(error.startswith(str(path)) for error in exc.errors)
