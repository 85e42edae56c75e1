"""`perfbudget check`: validates the config and the budgets, lists every error, exits non-zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfbudget.cli import main


def test_check_passes_on_the_embedded_defaults(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERFBUDGET_CONFIG", raising=False)
    assert main(["check"]) == 0
    assert "embedded defaults: configuration, budgets and playbooks are valid" in capsys.readouterr().out


def test_check_lists_every_error_of_config_and_budgets_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("vitals:\n  - {metric: LCP, target: 2500, severity: loud}\n")
    config = tmp_path / "perfbudget.yml"
    config.write_text(f"budgets_file: {budgets}\n")
    assert main(["check", "--config.file", str(config)]) == 1  # the config is valid, its budgets file is not
    err = capsys.readouterr().err
    assert f"{budgets}: vitals[0].severity: 'loud': must be one of info, warning, critical" in err

    config.write_text(f"budgets_file: {budgets}\nbeacons:\n  max_batch: 0\n  colour: red\n")
    assert main(["check", "--config.file", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{config}: beacons.max_batch: 0: must be >= 1" in err
    assert f"{config}: beacons.colour: 'red': unknown key" in err
