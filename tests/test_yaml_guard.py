"""Issue 11, point 10: a YAML alias bomb is refused fast, with the file named, by every YAML reader."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from perfbudget.budgets.model import load_budgets
from perfbudget.config import ConfigError, read_yaml_mapping
from perfbudget.config.loader import MAX_YAML_NODES

BOMB = "\n".join(
    [f'l0: &l0 [{", ".join(["lol"] * 10)}]']
    + [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 9)]
) + "\n"


def _refusal(path: Path) -> str:
    return (f"{path}: invalid YAML: its aliases expand to more than {MAX_YAML_NODES:,} nodes "
            "(a configuration needs far fewer; is this an alias bomb?)")


def test_a_billion_laughs_file_is_refused_quickly_naming_the_file(tmp_path: Path) -> None:
    bomb = tmp_path / "perfbudget.yml"
    bomb.write_text(BOMB)
    assert len(BOMB) < 1024
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        read_yaml_mapping(bomb)
    assert time.monotonic() - started < 5  # generous: it takes milliseconds, the expansion took minutes
    assert caught.value.errors == [_refusal(bomb)]


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    loop.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError) as caught:
        read_yaml_mapping(loop)
    assert caught.value.errors == [f"{loop}: invalid YAML: an alias refers to a node that contains it"]


def test_ordinary_aliases_still_load(tmp_path: Path) -> None:
    shared = tmp_path / "shared.yaml"
    shared.write_text("base: &base {target: 2500, window: 1h}\nvitals:\n  - {<<: *base, metric: LCP}\n"
                      "  - *base\n")
    assert read_yaml_mapping(shared) == yaml.safe_load(shared.read_text())


def test_python_tags_are_still_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.yaml"
    evil.write_text("a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError) as caught:
        read_yaml_mapping(evil)
    assert "could not determine a constructor" in caught.value.errors[0]


def test_a_budgets_file_bomb_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "budgets.yaml"
    bomb.write_text(BOMB)
    with pytest.raises(ConfigError) as caught:
        load_budgets(bomb, env={})
    assert caught.value.errors == [_refusal(bomb)]


def test_perfbudget_check_refuses_the_bomb_fast(tmp_path: Path) -> None:
    bomb = tmp_path / "perfbudget.yml"
    bomb.write_text(BOMB)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "perfbudget", "check", "--config.file", str(bomb)],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert time.monotonic() - started < 30  # a process start; the bomb itself costs milliseconds
    assert result.returncode == 1
    assert _refusal(bomb) in result.stderr + result.stdout
