"""A configured multiprocess directory loses perfbudget's own files at start (stale ones would double count or
carry an old run's sketch), and nothing else in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfbudget.config.env import MULTIPROC_ENV
from perfbudget.server.lifecycle import fresh_multiprocess_dir


def test_a_configured_directory_loses_our_stale_files_and_keeps_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = ["histogram_1.db", "store-12-34.slab", "clients-0123456789ab.bin", "dedup.bin", "routes.bin"]
    theirs = ["notes.txt", "other.bin"]
    for name in ours + theirs:
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    directory, made = fresh_multiprocess_dir()
    assert (directory, made) == (str(tmp_path), False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(theirs)
