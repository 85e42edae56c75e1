"""The shared-memory store under the real server: exact counts across workers, consistent scrapes, a killed
worker, and an exposition that promtool, the OpenMetrics parser and a real Prometheus accept.

One `perfbudget serve` (granian, 2 workers, rate limit off) for the module. Clients are threads posting
batched beacons of the five vitals with fresh ids, some over keep-alive connections and some over a new
connection per beacon, so both workers answer some (each worker's slab is read on its own to show it).
Every test compares differences over its own burst, so they hold in any order.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from perfbudget.metrics import hot_path_specs
from perfbudget.store import Reader, Table
from perfbudget.store.slab import PREFIX, SUFFIX, Slab
from perfbudget.vitals import VITALS

from .stack import Server, exporter, http, prom_query, prometheus, wait_for, workers

pytestmark = pytest.mark.integration

CLIENTS = 8
PAGES = ("/", "/checkout", "/cart")
MOBILE_HINTS = ("?1", "?0")  # Sec-CH-UA-Mobile: phone, and the User-Agent's class
VALUES = {"LCP": 2100.0, "FCP": 900.0, "TTFB": 300.0, "CLS": 0.03, "INP": 120.0}
ACCEPTED = "perfbudget_reports_accepted_total"
OPENMETRICS = "application/openmetrics-text;version=1.0.0"
_ids = itertools.count()


@dataclass
class Stack:
    server: Server
    slabs: Path  # the multiprocess directory: one store-<pid>-<ns>.slab per worker that ever ran


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("store")
    slabs = tmp / "multiproc"
    with exporter(tmp / "exporter", workers=2, config={"beacons": {"rate_limit": "off"}},
                  env={"PROMETHEUS_MULTIPROC_DIR": str(slabs)}) as server:
        wait_for(lambda: len(workers(server)) == 2, 30, what="two workers")
        yield Stack(server, slabs)


# --- clients --------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one client saw: reports answered as accepted per vital, and beacons sent without an answer."""

    accepted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VITALS, 0))
    unanswered: int = 0
    answered: int = 0
    errors: list[str] = field(default_factory=list)  # a thread's failures, asserted on by the test


def _batch(client: int) -> tuple[bytes, dict[str, str]]:
    n = next(_ids)
    page = f"http://shop.test{PAGES[n % len(PAGES)]}"
    body = [{"name": name, "value": value, "delta": value, "id": f"v{client}-{n}", "rating": "good",
             "navigationType": "navigate", "pageUrl": page} for name, value in VALUES.items()]
    headers = {"Content-Type": "application/json", "Sec-CH-UA-Mobile": MOBILE_HINTS[n % len(MOBILE_HINTS)],
               "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
    return json.dumps(body).encode(), headers


def _post(port: int, client: int, beacons: int, tally: Tally, keep_alive: bool) -> None:
    try:
        _post_all(port, client, beacons, tally, keep_alive)
    except Exception as exc:  # a client thread's failure must reach the test, not only a warning
        tally.errors.append(repr(exc))


def _post_all(port: int, client: int, beacons: int, tally: Tally, keep_alive: bool) -> None:
    """`beacons` batches of five vitals; a failed request (connection reset, worker gone) is unanswered."""
    conn: HTTPConnection | None = None
    for _ in range(beacons):
        body, headers = _batch(client)
        if conn is None:
            conn = HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/api/web-vitals", body, headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, HTTPException):
            # Sent, perhaps observed, never answered: between 0 and 5 reports may have been counted.
            tally.unanswered += 1
            conn.close()
            conn = None
            continue
        tally.answered += 1
        assert response.status == 200, raw
        answer = json.loads(raw)
        assert answer["received"] == len(VALUES) and answer["duplicates"] == 0, answer
        for name in VALUES:
            tally.accepted[name] += 1
        if not keep_alive or response.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def _burst(port: int, beacons: int) -> tuple[list[threading.Thread], list[Tally]]:
    """CLIENTS threads, half on keep-alive connections, half on a new connection per beacon (started)."""
    tallies = [Tally() for _ in range(CLIENTS)]
    threads = [threading.Thread(target=_post, args=(port, i, beacons, tallies[i], i % 2 == 0), daemon=True)
               for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    return threads, tallies


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a client thread did not finish within 60 s"


def _check(tallies: list[Tally]) -> None:
    errors = [e for t in tallies for e in t.errors]
    assert not errors, errors


def _accepted(tallies: list[Tally]) -> dict[str, int]:
    return {name: sum(t.accepted[name] for t in tallies) for name in VITALS}


# --- reading the server -----------------------------------------------------------------------------------


def _scrape(server: Server, accept: str | None = None) -> str:
    """/metrics over a new connection each time, so either worker may answer."""
    status, text = http("GET", f"{server.url}/metrics", headers={"Accept": accept} if accept else None, timeout=30)
    assert status == 200, text
    assert isinstance(text, str)
    return text


@dataclass(frozen=True)
class Figures:
    """Per vital: the sum of `_count` over its series, of `_bucket{le="+Inf"}`, and the accepted counter."""

    count: dict[str, float]
    inf: dict[str, float]
    accepted: dict[str, float]


def _figures(text: str) -> Figures:
    count = dict.fromkeys(VITALS, 0.0)
    inf = dict.fromkeys(VITALS, 0.0)
    accepted = dict.fromkeys(VITALS, 0.0)
    by_metric = {vital.metric: name for name, vital in VITALS.items()}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == ACCEPTED:
                accepted[s.labels["metric"]] += s.value
            elif s.name.endswith("_count") and s.name[: -len("_count")] in by_metric:
                count[by_metric[s.name[: -len("_count")]]] += s.value
            elif s.name.endswith("_bucket") and s.labels.get("le") == "+Inf" and s.name[: -len("_bucket")] in by_metric:
                inf[by_metric[s.name[: -len("_bucket")]]] += s.value
    return Figures(count, inf, accepted)


def _summary_samples(server: Server) -> dict[str, int]:
    status, body = http("GET", f"{server.url}/api/web-vitals?window=5m")
    assert status == 200, body
    return {name: int(body["metrics"][name]["samples"]) for name in VITALS}


def _diff(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after}


def _per_slab(slabs: Path) -> dict[int, float]:
    """Reports accepted per writer pid, each worker's slab read on its own through the store's Reader."""
    out: dict[int, float] = {}
    for path in sorted(slabs.glob(f"{PREFIX}*{SUFFIX}")):
        slab = Slab.open(path)
        pid, epoch = slab.pid, slab.epoch
        slab.close()
        alone = slabs.parent / f"one-slab-{pid}"
        alone.mkdir(exist_ok=True)
        link = alone / path.name
        if not link.exists():
            link.symlink_to(path)
        table = Table(hot_path_specs(), alone, epoch=epoch)  # reads only: it never opens a slab of its own
        reader = Reader(table)
        try:
            out[pid] = sum(reader.read_counter(ACCEPTED).values())
        finally:
            reader.close()
    return out


# --- the tests --------------------------------------------------------------------------------------------


def test_every_accepted_report_is_counted_once_whichever_worker_took_it_or_answers_the_scrape(stack: Stack) -> None:
    server = stack.server
    before, slabs_before = _figures(_scrape(server)), _per_slab(stack.slabs)
    threads, tallies = _burst(server.port, 60)
    _join(threads)
    _check(tallies)
    sent = _accepted(tallies)
    assert all(t.unanswered == 0 for t in tallies)
    assert sum(sent.values()) == CLIENTS * 60 * len(VALUES)

    slabs_after = _per_slab(stack.slabs)
    per_worker = {pid: n - slabs_before.get(pid, 0.0) for pid, n in slabs_after.items()}
    assert sorted(pid for pid, n in per_worker.items() if n > 0) == sorted(workers(server)), per_worker
    assert sum(per_worker.values()) == sum(sent.values())

    for _ in range(6):
        after = _figures(_scrape(server))
        assert _diff(after.count, before.count) == sent
        assert _diff(after.accepted, before.accepted) == sent
        assert after.inf == after.count
    figures = _figures(_scrape(server))
    assert _summary_samples(server) == {name: int(n) for name, n in figures.count.items()}


SeriesKey = tuple[str, tuple[tuple[str, str], ...]]  # (family, labels without le)
Buckets = list[tuple[float, float]]  # (le, cumulative count) in the order served


def _histogram_series(text: str) -> dict[SeriesKey, tuple[Buckets, float]]:
    """Per vitals series: its (le, cumulative count) buckets in the order served, and its `_count`."""
    metrics = {vital.metric for vital in VITALS.values()}
    buckets: dict[SeriesKey, Buckets] = {}
    counts: dict[SeriesKey, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in metrics:
            continue
        for s in family.samples:
            key = (family.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "le")))
            if s.name.endswith("_bucket"):
                buckets.setdefault(key, []).append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                counts[key] = s.value
    assert set(buckets) == set(counts), "a series with buckets but no _count, or the other way round"
    return {key: (buckets[key], counts[key]) for key in buckets}


def test_a_scrape_during_writes_is_consistent_for_every_series(stack: Stack) -> None:
    server = stack.server
    threads, tallies = _burst(server.port, 80)
    scrapes = 0
    previous: dict[SeriesKey, tuple[Buckets, float]] = {}
    while any(t.is_alive() for t in threads) or scrapes < 3:
        series = _histogram_series(_scrape(server))
        scrapes += 1
        for key, (buckets, count) in series.items():
            edges = [le for le, _ in buckets]
            values = [n for _, n in buckets]
            assert edges == sorted(edges) and edges[-1] == float("inf"), (key, edges)
            assert values == sorted(values), f"{key}: buckets not monotone: {values}"
            assert values[-1] == count, f"{key}: +Inf {values[-1]} != _count {count}"
            if key in previous:
                old_buckets, old_count = previous[key]
                old_values = [n for _, n in old_buckets]
                assert count >= old_count, f"{key}: _count went down from {old_count} to {count}"
                assert all(n >= o for n, o in zip(values, old_values, strict=True)), (key, old_values, values)
        assert set(previous) <= set(series), f"series vanished: {set(previous) - set(series)}"
        previous = series
    _join(threads)
    _check(tallies)
    assert all(t.unanswered == 0 for t in tallies)
    assert scrapes >= 3


def _kill_when(victim: int, tallies: list[Tally], answered: int) -> None:
    """kill -9 `victim` once the clients have had `answered` beacons answered."""
    wait_for(lambda: sum(t.answered for t in tallies) >= answered, 30, 0.005, "clients to get going")
    os.kill(victim, signal.SIGKILL)


def test_a_worker_killed_mid_burst_loses_only_what_it_had_not_answered(stack: Stack) -> None:
    server = stack.server
    before = _figures(_scrape(server))
    live = workers(server)
    assert len(live) == 2
    victim, survivor = sorted(live)
    slabs_before = _per_slab(stack.slabs)
    threads, tallies = _burst(server.port, 150)
    _kill_when(victim, tallies, 300)
    _join(threads)
    _check(tallies)
    sent = _accepted(tallies)
    unanswered = sum(t.unanswered for t in tallies)
    assert sum(t.answered for t in tallies) + unanswered == CLIENTS * 150

    respawned = wait_for(lambda: (workers(server) - {survivor}) if len(workers(server)) == 2 else None, 30,
                         what="granian to respawn the killed worker")
    assert victim not in respawned and survivor in workers(server)
    wait_for(lambda: http("GET", f"{server.url}/-/ready")[0] == 200, 30, what="the server ready again")

    after = _figures(_scrape(server))
    counted = _diff(after.count, before.count)
    for name in VITALS:
        # Every report answered 200 is counted; at most the unanswered beacons' reports come on top.
        assert sent[name] <= counted[name] <= sent[name] + unanswered, (name, sent[name], counted[name], unanswered)
        assert _diff(after.accepted, before.accepted)[name] == counted[name]
    assert after.inf == after.count
    assert _summary_samples(server) == {name: int(n) for name, n in after.count.items()}
    per_slab = _per_slab(stack.slabs)
    assert per_slab[victim] > slabs_before[victim], f"the killed worker took no report of this burst: {per_slab}"
    assert sum(per_slab.values()) == sum(after.accepted.values())  # its slab is still read by every scrape

    # The respawned worker counts too: new connections until its own slab shows reports (bounded).
    (new_pid,) = respawned
    more = Tally()
    for _ in range(50):
        _post(server.port, 99, 10, more, keep_alive=False)
        if _per_slab(stack.slabs).get(new_pid, 0) > 0:
            break
    assert _per_slab(stack.slabs).get(new_pid, 0) > 0, "the respawned worker never counted a report"
    _check([more])
    assert more.unanswered == 0
    final = _figures(_scrape(server))
    assert _diff(final.count, after.count) == {name: float(n) for name, n in more.accepted.items()}


def test_promtool_accepts_the_text_exposition(stack: Stack, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (Debian package 'prometheus')"
    text = _scrape(stack.server)
    assert "perfbudget_lcp_seconds_count" in text
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def test_openmetrics_exposition_ends_with_eof_and_parses(stack: Stack) -> None:
    text = _scrape(stack.server, OPENMETRICS)
    assert text.endswith("# EOF\n")
    families = {family.name: family for family in openmetrics_families(text)}  # type: ignore[no-untyped-call]
    lcp = families["perfbudget_lcp_seconds"]
    assert lcp.type == "histogram"
    count = sum(s.value for s in lcp.samples if s.name == "perfbudget_lcp_seconds_count")
    assert count == _figures(_scrape(stack.server)).count["LCP"]
    assert families["perfbudget_reports_accepted"].type == "counter"


def test_a_real_prometheus_scrapes_the_same_count_as_metrics_shows(stack: Stack, tmp_path: Path) -> None:
    server = stack.server
    expected = _figures(_scrape(server)).count["LCP"]
    assert expected > 0

    def scraped() -> float | None:
        result = prom_query(prom, "sum(perfbudget_lcp_seconds_count)")["result"]
        return float(result[0]["value"][1]) if result else None

    with prometheus(tmp_path / "prometheus", [f"127.0.0.1:{server.port}"], scrape_interval="1s") as prom:
        wait_for(lambda: scraped() is not None, 30, what="Prometheus's first scrape")
        up = prom_query(prom, 'up{job="perfbudget"}')["result"]
        assert [r["value"][1] for r in up] == ["1"]
        assert wait_for(lambda: scraped() == expected, 30, what="Prometheus to show /metrics's count")
        time.sleep(1.5)  # one more scrape: still the same figure (nothing is being posted)
        assert scraped() == expected == _figures(_scrape(server)).count["LCP"]
