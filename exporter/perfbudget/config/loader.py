"""Load a configuration: YAML file (or the embedded defaults) -> environment overrides -> validation.

Nothing is half-applied: either a whole valid `Config` comes back or `ConfigError` lists every problem.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .env import API_TOKEN_ENV, CONFIG_ENV, ENV_OVERRIDES
from .errors import ConfigError, format_validation_error
from .model import Config


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is an empty mapping)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: invalid YAML: nested too deeply to be a configuration"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: (top level): the file must hold a mapping of keys, not {type(data).__name__}"])
    return data


def set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set `data[path[0]][path[1]]... = value`, making (or replacing non-mapping) parents on the way."""
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """The configuration from `path` (or $PERFBUDGET_CONFIG, or the embedded defaults), with env overrides."""
    env = os.environ if env is None else env
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    source = str(path) if path is not None else "embedded defaults"
    data: dict[str, Any] = read_yaml_mapping(Path(path)) if path is not None else {}

    env_keys: dict[tuple[str | int, ...], str] = {}
    for name, key in ENV_OVERRIDES.items():
        if env.get(name):
            set_path(data, key, env[name])
            env_keys[key] = name
    token = env.get(API_TOKEN_ENV)
    if token:
        auth = data.setdefault("auth", {})
        if isinstance(auth, dict):
            tokens = auth.setdefault("tokens", [])
            if isinstance(tokens, list):
                tokens.append({"name": "env", "token": token})
                env_keys[("auth", "tokens", len(tokens) - 1)] = API_TOKEN_ENV
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc, env_keys)) from None
