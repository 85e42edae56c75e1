"""A database outage in a test: the server postgres_server started, stopped at once (`pg_ctl -m immediate`,
as a crash or a fail-over looks to the clients) and started again on the same port and data directory."""

from __future__ import annotations

import subprocess

import psycopg

from .postgres import USER, Postgres, binaries
from .stack import wait_for


def stop_postgres(pg: Postgres) -> None:
    bin_dir = binaries()
    assert bin_dir is not None
    subprocess.run(["runuser", "-u", USER, "--", str(bin_dir / "pg_ctl"), "-D", str(pg.data), "-m", "immediate",
                    "-w", "stop"], check=True, capture_output=True)


def start_postgres(pg: Postgres, durable: bool = True) -> subprocess.Popen[bytes]:
    """The same server again, as postgres_server(durable=...) started it (its teardown stops this one). An
    immediate stop is a crash: started without `durable`, the last commits may be gone (synchronous_commit off)."""
    bin_dir = binaries()
    assert bin_dir is not None
    server = subprocess.Popen(
        ["runuser", "-u", USER, "--", str(bin_dir / "postgres"), "-D", str(pg.data), "-p", str(pg.port),
         "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={pg.data.parent}",
         "-c", "max_connections=200",
         *([] if durable else ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])],
        stdout=pg.log.open("ab"), stderr=subprocess.STDOUT)

    def up() -> bool:
        try:
            with psycopg.connect(pg.url(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False
    wait_for(up, 30, what="PostgreSQL to start again")
    return server
