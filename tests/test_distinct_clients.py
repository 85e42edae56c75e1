"""The distinct-clients sketch: estimates, windows, sharing between workers, keyed hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfbudget.distinct_clients import REGISTERS, ClientSketch, RouteClients, estimate
from perfbudget.routes import RouteTable


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def sketch(clock: Clock, path: Path | None = None, run: str = "run-1") -> ClientSketch:
    return ClientSketch({"1h": 3600.0, "5m": 300.0}, 4, path, run, clock)


@pytest.mark.parametrize("clients", [1, 2, 5, 10, 30, 100, 1000, 20_000])
def test_the_estimate_is_within_the_documented_error(clients: int) -> None:
    s = sketch(Clock())
    for n in range(clients):
        s.add(0, s.hash(f"203.0.113.{n % 250}.{n}"))
    # 4 standard errors (about 4.5 % at 10 clients, 6.5 % past 640): one key per run, so not flaky in practice
    assert abs(s.count(0, "1h") - clients) <= max(1, 0.26 * clients), s.count(0, "1h")


def test_one_client_sending_many_beacons_is_one_client() -> None:
    s = sketch(Clock())
    hashed = s.hash("198.51.100.7")
    for _ in range(500):
        s.add(1, hashed)
    assert s.count(1, "1h") == 1 and s.count(0, "1h") == 0


def test_clients_leave_a_window_once_it_has_passed() -> None:
    clock = Clock()
    s = sketch(clock)
    for n in range(10):
        s.add(0, s.hash(f"10.0.0.{n}"))
    hour = s.count(0, "1h")
    assert hour == s.count(0, "5m") >= 9  # two of ten may share a register (linear counting's error)
    clock.now += 300 * 1.25 + 1  # past the short window (and the sub-window it may overrun by)
    assert s.count(0, "5m") == 0 and s.count(0, "1h") == hour
    s.add(0, s.hash("10.0.0.1"))
    assert s.count(0, "5m") == 1 and s.count(0, "1h") == hour
    clock.now += 3600 * 1.25 + 1
    assert dict(s.counts(0)) == {}


def test_workers_share_one_sketch_and_one_key_through_the_file(tmp_path: Path) -> None:
    clock = Clock()
    first, second = sketch(clock, tmp_path / "c.bin"), sketch(clock, tmp_path / "c.bin")
    assert first.hash("192.0.2.1") == second.hash("192.0.2.1")
    first.add(2, first.hash("192.0.2.1"))
    second.add(2, second.hash("192.0.2.1"))  # the same client through the other worker
    assert first.count(2, "1h") == second.count(2, "1h") == 1
    for n in range(2, 40):
        second.add(2, second.hash(f"192.0.2.{n}"))
    respawned = sketch(clock, tmp_path / "c.bin")
    assert first.count(2, "1h") == respawned.count(2, "1h") >= 35


def test_a_new_run_starts_empty_with_a_new_key(tmp_path: Path) -> None:
    clock = Clock()
    old = sketch(clock, tmp_path / "c.bin", run="run-1")
    old.add(0, old.hash("192.0.2.1"))
    new = sketch(clock, tmp_path / "c.bin", run="run-2")
    assert new.count(0, "1h") == 0
    assert new.hash("192.0.2.1") != old.hash("192.0.2.1")


def test_no_address_is_stored(tmp_path: Path) -> None:
    s = sketch(Clock(), tmp_path / "c.bin")
    s.add(0, s.hash("192.0.2.123"))
    data = (tmp_path / "c.bin").read_bytes()
    assert b"192.0.2.123" not in data and b"192" not in data


def test_route_clients_read_by_label_across_workers(tmp_path: Path) -> None:
    clock = Clock()
    table = RouteTable(2, tmp_path / "routes.bin", ["/cart"])
    other_worker = RouteTable(2, tmp_path / "routes.bin", ["/cart"])
    assert other_worker.admit("/late")  # admitted by the other worker: this one has not seen it yet
    s = sketch(clock)
    late = other_worker.slot("/late")
    assert late is not None
    s.add(late, s.hash("192.0.2.9"))
    clients = RouteClients(s, table)
    assert clients.count("/late", "1h") == 1 and clients.count("/never", "1h") == 0
    assert sorted(clients.samples()) == [("/late", "1h", 1), ("/late", "5m", 1)]


def test_an_empty_sketch_estimates_zero() -> None:
    assert estimate(bytes(REGISTERS)) == 0.0
