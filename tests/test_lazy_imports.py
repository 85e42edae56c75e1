"""Heavy optional dependencies are imported where they are used, not by every process.

psycopg (25 MiB a process), the OpenTelemetry SDK and its OTLP exporters (10-40 MiB) and Pillow (5 MiB) are
in no process of a server with the default config (SQLite, OTLP off, no image touched): neither in what
`perfbudget serve` loads before it forks nor in what each worker loads. Each is imported once its feature is
used. Every check runs in a fresh interpreter: this one has imported all of them long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from perfbudget.db import TRANSIENT_ERRORS, DatabaseOperationalError, PostgresDatabase

HEAVY = ("psycopg", "opentelemetry.sdk", "opentelemetry.exporter", "PIL")

# What `perfbudget serve` does before granian forks the workers, then what each worker loads.
MASTER = """
from perfbudget.cli import serve
from perfbudget.reload import validate_all
from perfbudget.server import granian
from perfbudget.server.lifecycle import prepare_data_dir
config, errors = validate_all(None)
assert not errors, errors
prepare_data_dir(config)
"""
WORKER = "import perfbudget.server.rsgi\n"
REPORT = """
import json, sys
print(json.dumps(sorted({name for name in sys.modules for heavy in HEAVY
                         if name == heavy or name.startswith(heavy + ".")})))
"""


def loaded(tmp_path: Path, code: str, **env: str) -> set[str]:
    """The HEAVY packages (and their submodules) a fresh interpreter holds after running `code`."""
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("PERFBUDGET_", "OTEL_"))}
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir(exist_ok=True)
    run_env.update(PERFBUDGET_DATA_DIR=str(tmp_path / "data"), PROMETHEUS_MULTIPROC_DIR=str(multiproc), **env)
    script = f"HEAVY = {HEAVY!r}\n{code}\n{REPORT}"
    done = subprocess.run([sys.executable, "-c", script], env=run_env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def tops(modules: set[str]) -> set[str]:
    return {heavy for heavy in HEAVY for name in modules if name == heavy or name.startswith(heavy + ".")}


def test_no_process_of_a_default_server_imports_the_optional_heavy_packages(tmp_path: Path) -> None:
    assert tops(loaded(tmp_path, MASTER + WORKER)) == set()


def test_configuring_otlp_imports_the_sdk_and_its_exporter(tmp_path: Path) -> None:
    code = WORKER + "from perfbudget.app import close_app\nclose_app(perfbudget.server.rsgi._wsgi_app)\n"
    got = tops(loaded(tmp_path, code, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
                      OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"))
    assert got == {"opentelemetry.sdk", "opentelemetry.exporter"}


def test_a_postgresql_store_imports_psycopg_when_it_connects(tmp_path: Path) -> None:
    code = """
from perfbudget.db import DatabaseUnreachable, PostgresDatabase
database = PostgresDatabase("postgresql://nobody@127.0.0.1:9/none", connect_timeout=1)
assert "psycopg" not in sys.modules
try:
    with database.connect() as db:
        db.execute("SELECT 1")
except DatabaseUnreachable:
    pass
"""
    assert tops(loaded(tmp_path, "import sys\n" + code)) == {"psycopg"}


def test_reading_an_image_imports_pillow_with_perfbudgets_own_limit(tmp_path: Path) -> None:
    code = """
from perfbudget.config.playbooks import HIGHEST_IMAGE_PIXELS
import perfbudget.playbooks.actions  # every action kind, images' included
from perfbudget.playbooks.actions.decoding import read_header
import sys
assert "PIL" not in sys.modules
import base64, pathlib
png = pathlib.Path("one.png")
png.write_bytes(base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="))
assert read_header(png, 10).width == 1
from PIL import Image
assert Image.MAX_IMAGE_PIXELS == HIGHEST_IMAGE_PIXELS
"""
    assert tops(loaded(tmp_path, code)) == {"PIL"}


class _LostConnection:
    """A psycopg connection whose server went away mid-statement."""

    closed = False

    def execute(self, *args: object) -> object:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    def close(self) -> None:
        self.closed = True


def test_psycopgs_operational_error_reaches_callers_as_a_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    database = PostgresDatabase("postgresql://nobody@127.0.0.1:9/none")
    lost = _LostConnection()
    monkeypatch.setattr(database, "_take", lambda: lost)
    with pytest.raises(TRANSIENT_ERRORS) as raised, database.connect() as db:
        db.execute("SELECT 1")
    assert isinstance(raised.value, DatabaseOperationalError)
    assert str(raised.value) == "server closed the connection unexpectedly"
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
    assert lost.closed  # a broken connection never goes back to the pool
