"""The command line tells the truth: a bad flag is blamed as the flag, an error header names the files that
hold the errors, relative paths in a config file are that file's folder's, `--version` answers, and
`perfbudget demo` refuses a taken port with a way out."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from perfbudget import __version__
from perfbudget.cli import main
from perfbudget.config import load_config


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PERFBUDGET_"):
            monkeypatch.delenv(name)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"perfbudget {__version__}\n"


def test_a_bad_listen_address_flag_is_blamed_as_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--web.listen-address", "127.0.0.1:99999"]) == 2
    err = capsys.readouterr().err
    assert "--web.listen-address 127.0.0.1:99999: must be HOST:PORT with a port between 1 and 65535" in err
    assert "PERFBUDGET_LISTEN_ADDRESS" not in err and "environment" not in err
    assert "PERFBUDGET_LISTEN_ADDRESS" not in os.environ  # refused before it became an override


def test_the_error_header_names_the_file_that_holds_the_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("vitals:\n  - {metric: LCP, target: 2500, severity: loud}\n")
    config = tmp_path / "perfbudget.yml"
    config.write_text("budgets_file: budgets.yaml\n")
    for command in ("check", "serve"):
        assert main([command, "--config.file", str(config)]) == 1
        header = capsys.readouterr().err.splitlines()[0]
        assert header.endswith(f"1 error(s) in {budgets}:"), header
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "x.yaml").write_text("id: x\n")
    config.write_text("budgets_file: budgets.yaml\nplaybooks: {directory: books}\n")
    assert main(["check", "--config.file", str(config)]) == 1
    header = capsys.readouterr().err.splitlines()[0]
    book = tmp_path / "books" / "x.yaml"
    assert header.startswith(f"perfbudget check: 9 error(s) in {budgets} (1), {book} ("), header


def test_relative_paths_in_a_config_file_are_relative_to_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "site").mkdir()
    config = folder / "perfbudget.yml"
    config.write_text("data_dir: data\nsite_root: site\nactions: {allowed_dirs: [site, /srv/www]}\n"
                      "playbooks: {audit_file: audit/runs.sqlite}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_config(Path("../etc/perfbudget.yml"), env={})
    assert loaded.data_dir == folder / "data"
    assert loaded.site_root == folder / "site"
    assert loaded.actions.allowed_dirs == [folder / "site", Path("/srv/www")]
    assert loaded.playbooks.audit_file == folder / "audit" / "runs.sqlite"
    # The environment's stay the working directory's (made absolute, so a snapshot elsewhere means the same).
    from_env = load_config(config, env={"PERFBUDGET_DATA_DIR": "state"})
    assert from_env.data_dir == elsewhere / "state"
    assert load_config(None, env={}).data_dir == Path("data")  # the embedded default


def test_demo_refuses_a_taken_port_and_says_how_to_avoid_it(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--shop.listen-address", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert f"the shop's address 127.0.0.1:{port}: Address already in use" in err
    assert "--shop.listen-address" in err and "--free-ports" in err


def test_the_demo_site_ships_in_the_wheel_where_the_shop_looks_for_it() -> None:
    import tomllib

    from perfbudget import demoshop

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    included = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert included["demo/site"] == "perfbudget/bundled/demo_site"
    packaged = Path(demoshop.__file__).parent / "bundled" / "demo_site"
    assert demoshop.site_directory() in (packaged, root / "demo" / "site")
    assert (demoshop.site_directory() / "index.html").is_file()


def test_serve_refuses_a_rules_folder_it_cannot_write_into(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "perfbudget.yml"
    config.write_text(f"data_dir: data\nprometheus:\n  rules_dir: {tmp_path / 'missing'}\n")
    assert main(["serve", "--config.file", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"refusing to start: prometheus.rules_dir {tmp_path / 'missing'} is not a directory" in err, err
