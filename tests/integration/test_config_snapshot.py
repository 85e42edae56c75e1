"""Issue 11, point 2: a worker that dies is replaced by one built from the configuration in force (the run's
snapshot), never from the files on disk, which change nothing until a reload accepts them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .stack import Server, beacon, exporter, http, kill_one_worker, wait_for

pytestmark = pytest.mark.integration

TOKEN = "snapshot-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BUDGETS = "vitals:\n  - {metric: LCP, target: 2500}\n"
# granian's crash-loop guard stops the server when one worker slot dies twice within 5.5 s.
RESPAWN_GUARD = 6.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path, Path]]:
    tmp = tmp_path_factory.mktemp("snapshot")
    budgets = tmp / "budgets.yaml"
    budgets.write_text(BUDGETS)
    config = {"budgets_file": str(budgets), "beacons": {"max_batch": 4},
              "auth": {"tokens": [{"name": "ops", "token": TOKEN}]}}
    with exporter(tmp, workers=2, config=config) as srv:
        yield srv, tmp / "perfbudget.yml", budgets


def _kill_one_worker(srv: Server) -> None:
    time.sleep(RESPAWN_GUARD)  # a reload's respawn done first
    kill_one_worker(srv, answers=lambda: _batches_status(srv, 3, 6) != {None})


def _batches_status(srv: Server, size: int, tries: int = 16) -> set[int | None]:
    """Statuses of a batch of `size` reports sent `tries` times, each on a new connection (so to both workers)."""
    statuses: set[int | None] = set()
    for _ in range(tries):
        batch = [beacon("CLS", 0.01, f"v1-{time.monotonic_ns()}-{n}") for n in range(size)]
        try:
            status, _ = http("POST", f"{srv.url}/api/web-vitals", batch, timeout=5)
        except OSError:
            status = None
        statuses.add(status)
    return statuses


def _lcp_edges(srv: Server) -> set[str]:
    for n in range(16):  # LCP observed by both workers, so both workers' edges are in /metrics
        http("POST", f"{srv.url}/api/web-vitals", [beacon("LCP", 1000, f"v1-edges-{time.monotonic_ns()}-{n}")])
    _, text = http("GET", f"{srv.url}/metrics")
    return {sample.labels["le"] for family in text_string_to_metric_families(text)
            if family.name == "perfbudget_lcp_seconds" for sample in family.samples if "le" in sample.labels}


def test_a_broken_file_on_disk_does_not_reach_a_respawned_worker(stack: tuple[Server, Path, Path]) -> None:
    srv, config_file, _ = stack
    good = config_file.read_text()
    config_file.write_text(good + "beacons: [not, a, mapping\n")
    try:
        status, answer = http("POST", f"{srv.url}/-/reload", headers=AUTH)
        assert status == 400 and answer["errors"], answer
        _kill_one_worker(srv)
        assert _batches_status(srv, 4) == {200}  # both workers: the old config, max_batch 4
        assert _batches_status(srv, 5) == {400}
        assert http("GET", f"{srv.url}/-/healthy")[0] == 200
    finally:
        config_file.write_text(good)


def test_a_budget_changed_on_disk_without_reload_leaves_the_bucket_edges_alone(
        stack: tuple[Server, Path, Path]) -> None:
    srv, _, budgets = stack
    edges = _lcp_edges(srv)
    assert "2.5" in edges and "2.345" not in edges
    budgets.write_text("vitals:\n  - {metric: LCP, target: 2345}\n")
    try:
        _kill_one_worker(srv)
        assert _lcp_edges(srv) == edges
    finally:
        budgets.write_text(BUDGETS)


def test_a_valid_reload_applies_and_survives_a_respawn(stack: tuple[Server, Path, Path]) -> None:
    srv, config_file, _ = stack
    data = yaml.safe_load(config_file.read_text())
    data["beacons"]["max_batch"] = 2
    config_file.write_text(yaml.safe_dump(data))
    status, answer = http("POST", f"{srv.url}/-/reload", headers=AUTH)
    assert status == 200, answer
    wait_for(lambda: _batches_status(srv, 3) == {400}, 60, what="every worker on max_batch 2")
    _kill_one_worker(srv)
    assert _batches_status(srv, 3) == {400}
    assert _batches_status(srv, 2) == {200}
