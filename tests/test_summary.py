"""Windows over histogram snapshots, and the quantile that must agree with PromQL's histogram_quantile."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from perfbudget.metrics import Metrics
from perfbudget.snapshots import SnapshotStore
from perfbudget.store import Labels, Observer
from perfbudget.summary import SummaryService, parse_window, quantile
from perfbudget.vitals import VITALS, bucket_edges

EDGES = (1.0, 2.0, 4.0)


@pytest.mark.parametrize(
    ("q", "counts", "expected"),
    [
        (0.75, [0, 4, 4, 4], 1.75),  # all in (1,2]: rank 3 of 4 -> 1 + 1*(3/4)
        (0.5, [2, 2, 2, 2], 0.5),  # first bucket interpolates from 0
        (0.75, [0, 0, 0, 4], 4.0),  # +Inf bucket: the highest finite bound
        (0.75, [1, 1, 1, 4], 4.0),
        (0.75, [0, 0, 0, 0], None),
    ],
)
def test_quantile_interpolates_like_histogram_quantile(q: float, counts: list[float], expected: float | None) -> None:
    assert quantile(q, EDGES, counts) == expected


@pytest.mark.parametrize(("text", "seconds"), [("1h", 3600), ("30m", 1800), ("1d", 86400), ("7d", 604800)])
def test_windows_use_prometheus_duration_notation(text: str, seconds: int) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize(
    ("text", "error"),
    [("1x", "window '1x' is not a duration like 30m, 1h, 6h, 1d"), ("8d", "window '8d' must be between 1m and 7d"),
     ("10s", "window '10s' must be between 1m and 7d")],
)
def test_a_bad_window_says_why(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_window(text)


EDGES_BY_VITAL = {name: bucket_edges(v) for name, v in VITALS.items()}


class _LCP:
    """Observes LCP values into a fresh metrics store, per (route, device)."""

    def __init__(self) -> None:
        self.metrics = Metrics(CollectorRegistry(), EDGES_BY_VITAL)
        self._observers: dict[tuple[str, str], Observer] = {}

    def observe(self, route: str, device: str, value: float) -> None:
        observe = self._observers.get((route, device)) or self.metrics.vitals["LCP"].observer((route, device))
        assert observe is not None
        self._observers[(route, device)] = observe
        observe(value)


def _service(tmp_path: Path, epoch: str) -> tuple[SummaryService, _LCP]:
    lcp = _LCP()
    service = SummaryService(lcp.metrics.reader, EDGES_BY_VITAL, SnapshotStore(tmp_path / "s.sqlite"), epoch,
                             started=0)
    return service, lcp


def test_a_window_counts_only_what_arrived_inside_it(tmp_path: Path) -> None:
    service, lcp = _service(tmp_path, "run-1")
    for _ in range(10):
        lcp.observe("/a", "phone", 5.0)  # an hour ago: poor
    service.snapshot(now=10_000)
    for _ in range(4):
        lcp.observe("/a", "phone", 1.0)  # since then: good
    state = service.state(3600, None, now=10_000 + 3600)
    lcp_state = state["metrics"]["LCP"]
    assert lcp_state["samples"] == 4
    assert lcp_state["rating"] == "good"
    assert lcp_state["goodShare"] == 1.0
    assert lcp_state["previous"] == pytest.approx(4750.0)  # 10 in (4,5] -> 4 + 0.75 s, in ms
    assert lcp_state["trend"] == "improving"


def test_windows_add_up_across_restarts_like_increase(tmp_path: Path) -> None:
    first, lcp = _service(tmp_path, "run-1")
    first.snapshot(now=1000)
    for _ in range(3):
        lcp.observe("/a", "desktop", 3.0)
    first.snapshot(now=1060)  # the run's last snapshot, then it stops
    second, lcp2 = _service(tmp_path, "run-2")
    lcp2.observe("/a", "desktop", 3.0)
    state = second.state(3600, None, now=1200)
    assert state["metrics"]["LCP"]["samples"] == 4
    assert state["metrics"]["LCP"]["rating"] == "needs-improvement"


def test_the_page_filter_keeps_one_route(tmp_path: Path) -> None:
    service, lcp = _service(tmp_path, "run-1")
    lcp.observe("/a", "phone", 1.0)
    lcp.observe("/b", "phone", 9.0)
    assert service.state(3600, "/b", now=100)["metrics"]["LCP"]["rating"] == "poor"
    assert service.state(3600, "/a", now=100)["metrics"]["LCP"]["rating"] == "good"
    poor = service.state(3600, "/b", now=100)
    assert poor["criticalIssues"][0]["metric"] == "LCP"
    assert poor["overallScore"] is not None


class _CountingReads:
    """The store's reader, noting who read it."""

    def __init__(self, lcp: _LCP, name: str, reads: list[str]) -> None:
        self._reader = lcp.metrics.reader
        self._name = name
        self._reads = reads

    def rows(self, name: str, match: Mapping[str, str] | None = None) -> dict[Labels, list[float]]:
        if name == "perfbudget_lcp_seconds":
            self._reads.append(self._name)
        return self._reader.rows(name, match)

    def sums(self, name: str, label: str) -> dict[str, list[float]]:
        if name == "perfbudget_lcp_seconds":
            self._reads.append(self._name)
        return self._reader.sums(name, label)


def test_one_worker_collects_each_minute_and_the_last_snapshot_at_shutdown_wins(tmp_path: Path) -> None:
    lcp = _LCP()
    collections: list[str] = []

    def worker(name: str) -> SummaryService:
        return SummaryService(_CountingReads(lcp, name, collections), EDGES_BY_VITAL,
                              SnapshotStore(tmp_path / "s.sqlite"), "run-1", started=0)

    first, second = worker("first"), worker("second")
    lcp.observe("/a", "phone", 1.0)
    first.snapshot(now=600)
    second.snapshot(now=630)  # the same minute, already saved by the other worker: nothing collected
    assert collections == ["first"]
    lcp.observe("/a", "phone", 1.0)
    second.snapshot(now=650, final=True)  # shutdown: the freshest counts replace the minute's
    assert collections == ["first", "second"]
    snapshot = SnapshotStore(tmp_path / "s.sqlite").at(650)["run-1"].counts("LCP", "/a")
    assert snapshot is not None and sum(snapshot) == 2
