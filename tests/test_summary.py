"""Windows over histogram snapshots, and the quantile that must agree with PromQL's histogram_quantile."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from perfbudget.budgets.model import VitalBudget, load_budgets
from perfbudget.metrics import Metrics
from perfbudget.reload import histogram_edges
from perfbudget.snapshots import SnapshotStore
from perfbudget.store import Labels, Observer
from perfbudget.summary import SummaryService, parse_window, quantile, quantile_bucket
from perfbudget.summary_contract import range_text
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

    def __init__(self, edges: Mapping[str, tuple[float, ...]] = EDGES_BY_VITAL) -> None:
        self.metrics = Metrics(CollectorRegistry(), edges)
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
    assert lcp_state["previous"] == pytest.approx(5272.5)  # 10 in (4.68,5.47] -> 4.68 + 0.75 * 0.79 s, in ms
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
    assert poor["criticalIssues"] == 1  # the contract's count; the issues themselves beside it
    assert poor["criticalIssueList"][0]["metric"] == "LCP"
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


@pytest.mark.parametrize(
    ("counts", "bucket"),
    [
        ([0, 4, 4, 4], (1.0, 2.0)),
        ([2, 2, 2, 2], (0.0, 1.0)),  # the first bucket starts at 0, as quantile interpolates from 0
        ([1, 1, 1, 4], (4.0, None)),  # +Inf: no upper bound
        ([0, 3, 3, 4], (1.0, 2.0)),  # rank 3 exactly at the top of (1, 2]
        ([0, 0, 0, 0], None),
    ],
)
def test_quantile_bucket_is_the_bucket_quantile_interpolates_in(
    counts: list[float], bucket: tuple[float, float | None] | None
) -> None:
    assert quantile_bucket(0.75, EDGES, counts) == bucket
    value = quantile(0.75, EDGES, counts)
    if bucket is not None and value is not None:
        assert bucket[0] <= value <= (bucket[1] if bucket[1] is not None else value)


def test_one_page_load_is_low_confidence_and_says_its_bucket(tmp_path: Path) -> None:
    service, lcp = _service(tmp_path, "run-1")
    lcp.observe("/a", "phone", 3.245)  # the one LCP of 3245 ms
    entry = service.state(3600, None, now=100)["metrics"]["LCP"]
    assert entry["samples"] == 1
    assert entry["confidence"] == "low"
    assert entry["minSamples"] == 50  # no budget applies: the budgets' default
    assert entry["range"] == [2920.0, 3420.0]  # ms, the vital's display unit
    assert entry["rangeText"] == "2.92-3.42 s, 1 sample"
    assert 2920.0 <= entry["value"] <= 3420.0
    for kept in ("value", "unit", "rating", "target", "samples", "goodShare", "poorShare", "withinTarget",
                 "previous", "trend"):
        assert kept in entry


def test_four_page_loads_of_2100_ms_read_within_one_percent_on_the_default_budgets(tmp_path: Path) -> None:
    edges = histogram_edges(load_budgets())  # the bundled budgets add an LCP edge at 2.0 s
    lcp = _LCP(edges)
    service = SummaryService(lcp.metrics.reader, edges, SnapshotStore(tmp_path / "s.sqlite"), "run-1", started=0)
    for _ in range(4):
        lcp.observe("/a", "phone", 2.1)
    entry = service.state(3600, None, now=100)["metrics"]["LCP"]
    assert entry["value"] == pytest.approx(2100, rel=0.01)  # was 2375 ms, in the old (2.0, 2.5] bucket
    assert entry["rangeText"] == "2.0-2.14 s, 4 samples"


def test_confidence_follows_the_min_samples_of_the_budget_that_applies(tmp_path: Path) -> None:
    lcp = _LCP()
    seen: list[tuple[str, str | None, str | None]] = []

    def budget_for(metric: str, route: str | None, device: str | None) -> VitalBudget | None:
        seen.append((metric, route, device))
        return VitalBudget.model_validate({"metric": metric, "target": 2500, "min_samples": 3}) \
            if route == "/a" and metric == "LCP" else None

    service = SummaryService(lcp.metrics.reader, EDGES_BY_VITAL, SnapshotStore(tmp_path / "s.sqlite"), "run-1",
                             started=0, budget_for=budget_for)
    for _ in range(3):
        lcp.observe("/a", "phone", 1.0)
    on_a = service.state(3600, "/a", now=100)["metrics"]
    assert (on_a["LCP"]["confidence"], on_a["LCP"]["minSamples"]) == ("high", 3)
    assert ("LCP", "/a", None) in seen
    everywhere = service.state(3600, None, now=100)["metrics"]["LCP"]
    assert (everywhere["confidence"], everywhere["minSamples"]) == ("low", 50)
    nothing = on_a["INP"]  # no data: nothing to be confident about, no range
    assert (nothing["confidence"], nothing["range"], nothing["rangeText"]) == (None, None, None)


@pytest.mark.parametrize(
    ("name", "lower", "upper", "samples", "text"),
    [
        ("LCP", 3.0, 4.0, 1, "3.0-4.0 s, 1 sample"),
        ("INP", 0.172, 0.2, 12, "172-200 ms, 12 samples"),
        ("INP", 0.921, 1.07, 2, "0.921-1.07 s, 2 samples"),  # one unit for both ends
        ("LCP", 22.4, None, 3, "over 22.4 s, 3 samples"),
        ("TTFB", 0.0, 0.0432, 5, "under 43 ms, 5 samples"),
        ("CLS", 0.1, 0.116, 7, "0.1-0.116, 7 samples"),
    ],
)
def test_a_range_reads_in_the_unit_people_use(name: str, lower: float, upper: float | None, samples: int,
                                              text: str) -> None:
    assert range_text(VITALS[name], lower, upper, samples) == text


def test_a_run_with_other_edges_but_as_many_buckets_is_left_out_of_a_window(tmp_path: Path) -> None:
    before = {**EDGES_BY_VITAL, "LCP": bucket_edges(VITALS["LCP"], [3.1])}
    after = {**EDGES_BY_VITAL, "LCP": bucket_edges(VITALS["LCP"], [3.3])}  # a budget moved: same count
    assert len(before["LCP"]) == len(after["LCP"])
    old_lcp = _LCP(before)
    first = SummaryService(old_lcp.metrics.reader, before, SnapshotStore(tmp_path / "s.sqlite"), "run-1", started=0)
    for _ in range(3):
        old_lcp.observe("/a", "phone", 3.2)
    first.snapshot(now=1060)
    new_lcp = _LCP(after)
    second = SummaryService(new_lcp.metrics.reader, after, SnapshotStore(tmp_path / "s.sqlite"), "run-2",
                            started=1100)
    new_lcp.observe("/a", "phone", 1.0)
    entry = second.state(3600, None, now=1200)["metrics"]["LCP"]
    assert entry["samples"] == 1  # run-1's 3.2 s loads were counted under (3.1, 3.42], not (2.92, 3.3]
    assert entry["rating"] == "good"


def test_a_cls_range_keeps_the_edges_digits(tmp_path: Path) -> None:
    lcp = _LCP()
    service = SummaryService(lcp.metrics.reader, EDGES_BY_VITAL, SnapshotStore(tmp_path / "s.sqlite"), "run-1",
                             started=0)
    observe = lcp.metrics.vitals["CLS"].observer(("/a", "phone"))
    assert observe is not None
    observe(0.008)
    entry = service.state(3600, None, now=100)["metrics"]["CLS"]
    assert entry["range"] == [0.00746, 0.00869]
    assert entry["rangeText"] == "0.00746-0.00869, 1 sample"


class _PhoneBudget:
    """A site LCP budget of 2.5 s and a phone budget of 2 s (budgets.model.VitalBudget's fields)."""

    def __init__(self, name: str, target: float) -> None:
        self.budget_name, self.target, self.percentile = name, target, 75.0
        self.severity, self.min_samples = "critical", 1


SITE, PHONE = _PhoneBudget("lcp", 2.5), _PhoneBudget("lcp-phone", 2.0)


def _devices_service(lcp: _LCP, path: Path, epoch: str, device_vitals: tuple[str, ...] = ("LCP",)) -> SummaryService:
    return SummaryService(lcp.metrics.reader, EDGES_BY_VITAL, SnapshotStore(path), epoch, started=0,
                          budget_for=lambda m, r, d: (PHONE if d == "phone" else SITE) if m == "LCP" else None,
                          device_vitals=device_vitals)


def test_each_device_gets_the_verdict_of_its_budget_over_the_window_alone(tmp_path: Path) -> None:
    lcp = _LCP()
    service = _devices_service(lcp, tmp_path / "s.sqlite", "run-1")
    for _ in range(10):
        lcp.observe("/a", "phone", 1.0)  # an hour ago: phones were fast
    service.snapshot(now=10_000)
    for _ in range(4):
        lcp.observe("/a", "phone", 2.4)  # since then: over the phone budget, within the site's
        lcp.observe("/a", "desktop", 1.2)
    state = service.state(3600, "/a", now=10_000 + 3600)
    devices = {item["device"]: item for item in state["metrics"]["LCP"]["devices"]}
    assert devices["phone"]["samples"] == 4 and devices["phone"]["withinBudget"] is False  # not 14 samples
    assert (devices["phone"]["budget"]["name"], devices["phone"]["ownBudget"]) == ("lcp-phone", True)
    assert (devices["desktop"]["budget"]["name"], devices["desktop"]["withinBudget"]) == ("lcp", True)
    assert set(devices) == {"phone", "desktop"}  # tablet and unknown: no page loads, no budget of their own
    assert state["metrics"]["LCP"]["withinBudget"] is True and state["budgetsMet"] == {"met": 1, "total": 2}
    assert state["metrics"]["INP"]["devices"] == []


def test_a_run_kept_without_device_rows_gives_no_device_counts(tmp_path: Path) -> None:
    """A run recorded before its vital had a device budget has no such rows in its ladder: its counts since
    the run began must not pass for the window's (a reload that adds a device budget keeps the epoch)."""
    lcp = _LCP()
    before = _devices_service(lcp, tmp_path / "s.sqlite", "run-1", device_vitals=())
    for _ in range(5):
        lcp.observe("/a", "phone", 2.4)
    before.snapshot(now=1000)
    after = _devices_service(lcp, tmp_path / "s.sqlite", "run-1")  # same epoch, its ladder recorded already
    state = after.state(3600, "/a", now=1200)
    assert state["metrics"]["LCP"]["samples"] == 5
    assert [d for d in state["metrics"]["LCP"]["devices"] if d["samples"]] == []
