"""Generated files as text: YAML and JSON rendered the same way every time, each with its header."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class GeneratedFile:
    """One file the generator writes: its path under the output directory and its whole text."""

    path: str
    text: str


class _Dumper(yaml.SafeDumper):
    """Block style, keys in insertion order, multi-line strings (PromQL) as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as promtool's and Alertmanager's own examples do.
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any, header: str) -> str:
    """`# <header>` then the YAML document."""
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 16,
                     default_flow_style=False)
    return f"# {header}\n{body}"


def dump_json(data: Any) -> str:
    """Indented JSON with a final newline (dashboards carry their header in `description`)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
