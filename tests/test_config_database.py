"""`database.url` (PERFBUDGET_DATABASE_URL): PostgreSQL URLs only, the password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfbudget.config import load_config
from perfbudget.config.database import redacted
from perfbudget.config.errors import ConfigError

SECRET = "s3cr3t-pw"


def test_no_url_keeps_the_embedded_sqlite_store() -> None:
    config = load_config(None, env={})
    assert config.database.url is None and config.database.lease_seconds == 30


def test_the_environment_variable_overrides_the_config_key(tmp_path: Path) -> None:
    path = tmp_path / "perfbudget.yml"
    path.write_text("database:\n  url: postgresql://a@file-host/runs\n  lease_seconds: 10\n")
    config = load_config(path, env={"PERFBUDGET_DATABASE_URL": f"postgres://pb:{SECRET}@env-host:5433/runs"})
    assert config.database.url == f"postgres://pb:{SECRET}@env-host:5433/runs" and config.database.lease_seconds == 10


@pytest.mark.parametrize(("url", "message"), [
    (f"mysql://pb:{SECRET}@db/runs", "must be a PostgreSQL URL like postgresql://user:password@host:5432/perfbudget"),
    (f"postgresql://pb:{SECRET}@/runs", "names no host"),
    (f"postgresql://pb:{SECRET}@db:port/runs", "has a port that is not a number"),
])
def test_a_bad_url_is_an_error_that_hides_it(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(None, env={"PERFBUDGET_DATABASE_URL": url})
    text = "\n".join(raised.value.errors)
    assert f"environment PERFBUDGET_DATABASE_URL: database.url: (hidden): {message}" in text
    assert SECRET not in text


@pytest.mark.parametrize(("url", "shown"), [
    (f"postgresql://pb:{SECRET}@db:5432/runs", "postgresql://pb:***@db:5432/runs"),
    ("postgresql://pb@db/runs", "postgresql://pb@db/runs"),
    (f"postgresql://db/runs?password={SECRET}&sslmode=require", "postgresql://db/runs?***"),
    (f"postgresql://pb:{SECRET}@[::1]:5432/runs", "postgresql://pb:***@[::1]:5432/runs"),
])
def test_redacted_keeps_where_and_drops_the_password(url: str, shown: str) -> None:
    assert redacted(url) == shown
