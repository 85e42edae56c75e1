"""A real PostgreSQL server for the shared store's tests: Debian's, started by the test, torn down after.

initdb and postgres refuse to run as root, so both run as the `postgres` OS user (runuser) in a temporary
directory it owns; the server listens on 127.0.0.1 only, on a free port, with its unix socket in that
directory and fsync off (a test's data needs no durability). One server per test module (`postgres_server`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from .stack import free_port

USER = "postgres"
PASSWORD = "pg-test-secret-5b1d"


def binaries() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb and postgres (scripts/install-test-deps installs them)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    data: Path
    log: Path

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh database `name` on this server; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}"')
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["runuser", "-u", USER, "--", *args], check=True, capture_output=True, **kwargs)  # type: ignore[call-overload, no-any-return]


@contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[Postgres]:
    """Start a server (skip the test when PostgreSQL is not installed); stop it and remove its files after.
    `durable`: fsync and synchronous commits on, as in production (benchmarks/run_store.py), else off."""
    bin_dir = binaries()
    if bin_dir is None or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL is not installed (scripts/install-test-deps installs Debian's postgresql)")
    owner = pwd.getpwnam(USER)
    root = Path(tempfile.mkdtemp(prefix="perfbudget-pg-"))
    os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "server.log"
    password_file = root / "password"
    password_file.write_text(PASSWORD + "\n")
    os.chown(password_file, owner.pw_uid, owner.pw_gid)
    _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=scram-sha-256",
                  f"--pwfile={password_file}", "-E", "UTF8", "--locale=C.UTF-8"])
    port = free_port()
    log.touch()
    os.chown(log, owner.pw_uid, owner.pw_gid)
    server = subprocess.Popen(
        ["runuser", "-u", USER, "--", str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
         "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}", "-c", "max_connections=200",
         *([] if durable else ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])],
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )
    pg = Postgres("127.0.0.1", port, data, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(pg.url(), connect_timeout=2):
                    break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield pg
    finally:
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        server.wait(30)
        shutil.rmtree(root, ignore_errors=True)
