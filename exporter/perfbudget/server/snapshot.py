"""The configuration in force: a snapshot of the last validated config, budgets and playbooks, in the run's
private directory, that every worker builds from.

A worker that dies (kill -9, OOM) is replaced by one that reads the snapshot, never the files on disk: a
file edited or broken since the last start or reload cannot give the new worker another configuration than
its siblings, or crash it (and granian's crash-loop guard would then stop the healthy workers too). Only
`perfbudget serve` and a reload that validated everything write a snapshot, and they swap it in whole.

Layout: `<run dir>/snapshot-<id>/{config.yaml, budgets.yaml, playbooks/}` and the symlink `current` naming
the one in force, replaced atomically. The config in a snapshot is the validated document (file content with
the environment overrides applied) with its budgets and playbooks paths pointing inside the snapshot.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml

from ..budgets.model import bundled_budgets_path
from ..budgets.overrides import OVERRIDES_FILE, overrides_path
from ..config import Config, ConfigError
from ..config.loader import load_config, load_config_document, set_path

#: What validates a config file and the budgets and playbooks it names: (config or None, every error).
Validate = Callable[[Path | None, Mapping[str, str] | None], tuple[Config | None, list[str]]]

CURRENT = "current"
_CONFIG = "config.yaml"
_PLAYBOOK_SUFFIXES = (".yaml", ".yml")
# No environment when reading a snapshot back: its overrides are applied already.
_NO_ENV: Mapping[str, str] = {}


def write_snapshot(run_dir: Path, config_file: Path | None, validate: Validate) -> list[str]:
    """Snapshot the configuration `config_file` names (the caller has validated it) and make it the one in
    force; every error, and the snapshot in force unchanged, when the copy does not validate (a file changed
    while it was being read, a disk full)."""
    with _locked(run_dir):
        staging = run_dir / f"snapshot-{uuid.uuid4().hex[:12]}"
        try:
            _stage(staging, config_file)
            _, errors = validate(staging / _CONFIG, _NO_ENV)
        except ConfigError as exc:
            errors = exc.errors
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            return [f"cannot write the configuration snapshot in {run_dir}: {exc.strerror}"]
        if errors:
            shutil.rmtree(staging, ignore_errors=True)
            return [f"nothing applied: a file changed while it was being read, try again ({error})"
                    for error in errors]
        link = run_dir / f".{CURRENT}-{staging.name}"
        link.symlink_to(staging.name)
        os.replace(link, run_dir / CURRENT)
        _prune(run_dir, keep=staging.name)
    return []


def read_snapshot(run_dir: Path) -> Config:
    """The configuration in force, as a new worker builds from it."""
    directory = (run_dir / CURRENT).resolve()
    return load_config(directory / _CONFIG, env=_NO_ENV)


def _stage(staging: Path, config_file: Path | None) -> None:
    document = load_config_document(config_file)
    config, data = document.config, document.data
    staging.mkdir(mode=0o700)
    budgets = staging / "budgets.yaml"
    shutil.copyfile(config.budgets_file or bundled_budgets_path(), budgets)
    set_path(data, ("budgets_file",), str(budgets))
    # The thresholds set by API travel with the budgets: a worker reads the copy in force, never the file.
    thresholds = staging / OVERRIDES_FILE
    if overrides_path(config).exists():
        shutil.copyfile(overrides_path(config), thresholds)
    set_path(data, ("thresholds_file",), str(thresholds))
    if config.playbooks.directory is not None:
        playbooks = staging / "playbooks"
        playbooks.mkdir()
        for path in sorted(config.playbooks.directory.iterdir()):
            if path.suffix in _PLAYBOOK_SUFFIXES and path.is_file():
                shutil.copyfile(path, playbooks / path.name)
        set_path(data, ("playbooks", "directory"), str(playbooks))
    _write_private(staging / _CONFIG, yaml.safe_dump(data, sort_keys=False))


def _write_private(path: Path, text: str) -> None:
    # The document may hold tokens (the file's, PERFBUDGET_API_TOKEN's): readable by this user only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _prune(run_dir: Path, keep: str) -> None:
    """Remove older snapshots but the one before `keep` (a worker starting right now may still read it)."""
    snapshots = sorted((p for p in run_dir.glob("snapshot-*") if p.name != keep), key=lambda p: p.stat().st_mtime)
    for old in snapshots[:-1]:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """Two reloads at once (two workers) write one snapshot after the other."""
    fd = os.open(run_dir / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
