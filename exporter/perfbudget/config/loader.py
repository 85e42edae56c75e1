"""Load a configuration: YAML file (or the embedded defaults) -> environment overrides -> validation.

Nothing is half-applied: either a whole valid `Config` comes back or `ConfigError` lists every problem.
Every YAML file perfbudget reads (config, budgets, playbooks) goes through `read_yaml_mapping`, which refuses
documents whose aliases expand past `MAX_YAML_NODES`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .env import API_TOKEN_ENV, CONFIG_ENV, ENV_OVERRIDES
from .errors import ConfigError, format_validation_error
from .model import Config

#: The most nodes a document may hold once its aliases are expanded. The bundled files hold a few thousand;
#: a 1 KB "billion laughs" file expands to 10^8, which every later step (validation, an error message's
#: repr) would walk one by one.
MAX_YAML_NODES = 100_000


def _expanded_size(root: yaml.Node, limit: int) -> int | None:
    """How many nodes the document holds with every alias expanded, counted without expanding anything
    (each node's size is counted once and shared by its aliases); None when an alias refers to a node that
    contains it, which expands forever. Stops counting once past `limit`."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = _children(node)
        if children_done:
            open_nodes.discard(id(node))
            sizes[id(node)] = size = 1 + sum(sizes[id(child)] for child in children)
            if size > limit:
                return size
            continue
        if id(node) in sizes:
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                return None
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _load_yaml(text: str, path: Path) -> Any:
    """yaml.safe_load, refusing documents whose aliases expand past MAX_YAML_NODES before building them."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, MAX_YAML_NODES)
        if size is None:
            raise ConfigError([f"{path}: invalid YAML: an alias refers to a node that contains it"])
        if size > MAX_YAML_NODES:
            raise ConfigError([f"{path}: invalid YAML: its aliases expand to more than {MAX_YAML_NODES:,} nodes "
                               "(a configuration needs far fewer; is this an alias bomb?)"])
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is an empty mapping)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}"]) from None
    try:
        data = _load_yaml(text, path)
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


#: The config keys that name files or directories. A relative one in a config file is relative to that file's
#: folder (like Prometheus' rule_files), so a config works from any working directory; one from the
#: environment (PERFBUDGET_DATA_DIR, ...) or the embedded defaults stays relative to the working directory.
PATH_KEYS: tuple[tuple[str, ...], ...] = (
    ("data_dir",), ("site_root",), ("budgets_file",), ("playbooks", "directory"), ("playbooks", "audit_file"),
    ("actions", "allowed_dirs"), ("prometheus", "rules_dir"), ("thresholds_file",),
    ("logging", "events_file"),
)


def resolve_relative_paths(data: dict[str, Any], folder: Path) -> None:
    """Every relative path under PATH_KEYS in `data` made relative to `folder`, in place; other values (wrong
    types included, for validation to name) are left as they are."""
    for key in PATH_KEYS:
        parent: Any = data
        for part in key[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or key[-1] not in parent:
            continue
        value = parent[key[-1]]
        if isinstance(value, str) and value:
            parent[key[-1]] = _against(value, folder)
        elif isinstance(value, list):
            parent[key[-1]] = [_against(item, folder) if isinstance(item, str) and item else item for item in value]


def _against(value: str, folder: Path) -> str:
    path = Path(value).expanduser()
    return str(path) if path.is_absolute() else os.path.normpath(folder / path)


@dataclass(frozen=True)
class ConfigDocument:
    """A valid configuration and the document it was validated from: the file's content with the environment
    overrides applied (what `perfbudget serve` snapshots for its workers)."""

    config: Config
    data: dict[str, Any]


def load_config_document(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> ConfigDocument:
    """`load_config`, keeping the validated document beside the config."""
    env = os.environ if env is None else env
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    source = str(path) if path is not None else "embedded defaults"
    data: dict[str, Any] = read_yaml_mapping(Path(path)) if path is not None else {}
    if path is not None:
        resolve_relative_paths(data, Path(os.path.abspath(path)).parent)

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
    # The environment's relative paths are the working directory's: made absolute here, so the document
    # (what `perfbudget serve` snapshots in another folder for its workers) means the same anywhere.
    resolve_relative_paths(data, Path.cwd())
    try:
        return ConfigDocument(Config.model_validate(data), data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc, env_keys)) from None


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """The configuration from `path` (or $PERFBUDGET_CONFIG, or the embedded defaults), with env overrides."""
    return load_config_document(path, env).config
