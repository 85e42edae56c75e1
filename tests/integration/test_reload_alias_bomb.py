"""Issue 11, point 10: `POST /-/reload` refuses a YAML alias bomb fast, naming the file, and keeps serving."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ..test_yaml_guard import BOMB
from .stack import exporter, http

pytestmark = pytest.mark.integration

TOKEN = "bomb-test-token-0123456789abc"


def test_reload_refuses_an_alias_bomb_quickly(tmp_path: Path) -> None:
    with exporter(tmp_path, workers=2, config={"auth": {"tokens": [{"name": "ops", "token": TOKEN}]}}) as srv:
        config_file = tmp_path / "perfbudget.yml"
        config_file.write_text(BOMB)
        started = time.monotonic()
        status, answer = http("POST", f"{srv.url}/-/reload", headers={"Authorization": f"Bearer {TOKEN}"},
                              timeout=30)
        assert time.monotonic() - started < 5  # generous: milliseconds; the expansion took minutes
        assert status == 400
        assert answer["errors"] == [
            f"{config_file}: invalid YAML: its aliases expand to more than 100,000 nodes "
            "(a configuration needs far fewer; is this an alias bomb?)"]
        assert http("GET", f"{srv.url}/-/healthy")[0] == 200
