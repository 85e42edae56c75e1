"""Typed, strict configuration: `load_config(path)` gives a whole valid `Config` or a `ConfigError`."""

from .env import API_TOKEN_ENV, CONFIG_ENV
from .errors import ConfigError, format_validation_error, key_path
from .loader import load_config, read_yaml_mapping
from .model import Config

__all__ = [
    "API_TOKEN_ENV",
    "CONFIG_ENV",
    "Config",
    "ConfigError",
    "format_validation_error",
    "key_path",
    "load_config",
    "read_yaml_mapping",
]
