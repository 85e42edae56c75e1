"""`POST /-/reload`: validates the files again; applies them only when whole, valid and appliable."""

from __future__ import annotations

from pathlib import Path

import yaml
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from perfbudget.app import create_app
from perfbudget.config import load_config

TOKEN = "reload-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _client(tmp_path: Path, registry: CollectorRegistry, budgets: str) -> tuple[FlaskClient, Path, Path]:
    budgets_file = tmp_path / "budgets.yaml"
    budgets_file.write_text(budgets)
    config_file = tmp_path / "perfbudget.yml"
    config_file.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "budgets_file": str(budgets_file),
        "auth": {"tokens": [{"name": "ops", "token": TOKEN}]},
    }))
    app = create_app(load_config(config_file, env={}), registry=registry, config_file=config_file)
    return app.test_client(), config_file, budgets_file


def test_a_valid_unchanged_config_reloads(tmp_path: Path, registry: CollectorRegistry) -> None:
    client, _, _ = _client(tmp_path, registry, "vitals:\n  - {metric: LCP, target: 2500}\n")
    answer = client.post("/-/reload", headers=AUTH)
    assert answer.status_code == 200, answer.json
    assert registry.get_sample_value("perfbudget_config_last_reload_successful") == 1


def test_a_new_budget_target_needs_a_restart_not_a_reload(tmp_path: Path, registry: CollectorRegistry) -> None:
    client, _, budgets_file = _client(tmp_path, registry, "vitals:\n  - {metric: LCP, target: 2500}\n")
    budgets_file.write_text("vitals:\n  - {metric: LCP, target: 2100}\n")  # 2.1 s is not a bucket edge yet
    answer = client.post("/-/reload", headers=AUTH)
    assert answer.status_code == 400
    assert answer.json is not None
    assert answer.json["errors"] == [
        "the budgets' targets change the histograms' bucket edges, which a reload cannot do: "
        "restart perfbudget to apply them"
    ]
    assert registry.get_sample_value("perfbudget_config_last_reload_successful") == 0


def test_an_invalid_file_is_refused_with_every_error(tmp_path: Path, registry: CollectorRegistry) -> None:
    client, config_file, _ = _client(tmp_path, registry, "vitals: []\n")
    config_file.write_text(config_file.read_text() + "beacons:\n  max_batch: 0\n  colour: red\n")
    answer = client.post("/-/reload", headers=AUTH)
    assert answer.status_code == 400
    assert answer.json is not None
    assert answer.json["errors"] == [
        f"{config_file}: beacons.max_batch: 0: must be >= 1",
        f"{config_file}: beacons.colour: 'red': unknown key",
    ]
    assert registry.get_sample_value("perfbudget_config_last_reload_successful") == 0
