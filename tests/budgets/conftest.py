"""Budgets fixtures: a budgets file written from a mapping, loaded without environment overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfbudget.budgets.model import Budgets, load_budgets


@pytest.fixture
def write_budgets(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(data: dict[str, Any]) -> Path:
        path = tmp_path / "budgets.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


@pytest.fixture
def make_budgets(write_budgets: Callable[[dict[str, Any]], Path]) -> Callable[..., Budgets]:
    def make(env: dict[str, str] | None = None, **data: Any) -> Budgets:
        return load_budgets(write_budgets(data), env=env or {})

    return make
