"""Shared fixtures: a config built from a dict, a fresh registry per test, the app and its test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from perfbudget.app import close_app, create_app
from perfbudget.config import Config, load_config


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """A Config from keyword sections, with its data under tmp_path and no environment overrides."""

    def make(**sections: Any) -> Config:
        import yaml

        sections.setdefault("data_dir", str(tmp_path / "data"))
        sections.setdefault("beacons", {}).setdefault("rate_limit", "off")
        # POST /api/perf-fix answers 202 at once here (tests of its bounded wait set it themselves).
        sections.setdefault("playbooks", {}).setdefault("answer_wait_seconds", 0)
        path = tmp_path / "perfbudget.yml"
        path.write_text(yaml.safe_dump(sections))
        return load_config(path, env={})

    return make


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def make_app(make_config: Callable[..., Config], registry: CollectorRegistry) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def make(**sections: Any) -> Flask:
        app = create_app(make_config(**sections), registry=registry)
        app.testing = True
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
