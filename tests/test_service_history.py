"""perfbudget's own HTTP history (service_history.py) over the real store and SQLite: windows per endpoint,
several runs, thinning with age, availability from heartbeats, the last 5xx shared by workers; the HTTP
metrics' labels (http_metrics.py) through a real Flask app; the status the service budgets give."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from flask import Flask, abort, send_file
from werkzeug.test import EnvironBuilder
from werkzeug.wsgi import FileWrapper

from perfbudget.config import Config
from perfbudget.http_metrics import HTTP_DURATION, OTEL_BUCKETS, FlaskTiming, HttpMetrics, http_spec
from perfbudget.monitoring import decide
from perfbudget.service_history import ServiceHistory
from perfbudget.snapshots import DAY
from perfbudget.store import Reader, Table
from perfbudget.summary import quantile
from perfbudget.thresholds import service_thresholds

T0 = 1_800_000_000.0  # a minute boundary


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Run:
    """One server run: its own store table (as a worker's slab), metrics and history on a shared file."""

    def __init__(self, path: Path, epoch: str, clock: Clock) -> None:
        self.table = Table([http_spec()])
        self.http = HttpMetrics(self.table.histogram(HTTP_DURATION))
        self.history = ServiceHistory(path, reader=Reader(self.table), epoch=epoch, clock=clock)

    def hit(self, route: str, method: str, status: int, seconds: float, times: int = 1) -> None:
        for _ in range(times):
            self.http.observer(route, method, status)(seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def run(tmp_path: Path, clock: Clock) -> Iterator[Run]:
    r = Run(tmp_path / "summary.sqlite", "a", clock)
    yield r
    r.table.close()


def test_window_is_what_completed_between_its_frames(run: Run, clock: Clock) -> None:
    run.history.record()  # t0: nothing yet
    run.hit("/api/web-vitals", "POST", 200, 0.003, times=4)
    clock.t = T0 + 60
    run.history.record()
    run.hit("/api/web-vitals", "POST", 200, 0.2, times=2)
    run.hit("/api/web-vitals", "POST", 503, 2.0)
    run.hit("/metrics", "GET", 200, 0.04)
    clock.t = T0 + 120
    run.history.record()
    clock.t = T0 + 600  # long after: every window below reads frames only

    first = run.history.window(T0, T0 + 60)
    assert first == {"POST /api/web-vitals": {"count": 4, "errors": 0, "sum_seconds": pytest.approx(0.012),
                                              "buckets": [4] * (len(OTEL_BUCKETS) + 1),
                                              "edges": list(OTEL_BUCKETS)}}
    second = run.history.window(T0 + 60, T0 + 120)
    beacons = second["POST /api/web-vitals"]
    assert (beacons["count"], beacons["errors"]) == (3, 1)
    assert beacons["sum_seconds"] == pytest.approx(2.4)
    edges = beacons["edges"]
    assert beacons["buckets"][edges.index(0.1)] == 0 and beacons["buckets"][edges.index(0.25)] == 2
    assert beacons["buckets"][edges.index(2.5)] == 3 == beacons["buckets"][-1]
    assert second["GET /metrics"]["count"] == 1
    assert quantile(0.5, tuple(edges), [float(b) for b in beacons["buckets"]]) == pytest.approx(0.25 * 0.75 / 1
                                                                                                 + 0.1 * 0.25)
    whole = run.history.window(T0 - 60, T0 + 120)
    assert whole["POST /api/web-vitals"]["count"] == 7
    assert run.history.window(T0 + 200, T0 + 500) == {}


def test_an_end_in_the_minute_under_way_reads_the_live_counts(run: Run, clock: Clock) -> None:
    run.history.record()
    run.hit("/api/web-vitals", "GET", 200, 0.01)
    clock.t = T0 + 30
    assert run.history.window(T0 - 3600, clock.t)["GET /api/web-vitals"]["count"] == 1
    # A reader without the store (the report command) sees only what the frames hold.
    assert ServiceHistory(run.history.path, clock=clock).window(T0 - 3600, clock.t) == {}


def test_runs_add_up_and_a_restart_is_not_a_negative_window(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "summary.sqlite"
    old = Run(path, "old", clock)
    old.history.record()
    old.hit("/api/web-vitals", "POST", 200, 0.01, times=5)
    clock.t = T0 + 60
    old.history.close()  # the run's last frame
    new = Run(path, "new", clock)
    new.history.record()
    new.hit("/api/web-vitals", "POST", 200, 0.01, times=2)
    clock.t = T0 + 120
    new.history.record()
    clock.t = T0 + 1000
    assert new.history.window(T0 - 1, T0 + 120)["POST /api/web-vitals"]["count"] == 7
    assert new.history.window(T0 + 60, T0 + 120)["POST /api/web-vitals"]["count"] == 2


def test_thinning_keeps_the_first_frame_of_each_ten_minutes_past_a_day(run: Run, clock: Clock) -> None:
    for minute in range(30):
        clock.t = T0 + 60 * minute
        run.hit("/x", "GET", 200, 0.01)
        run.history.record()
    run.history.thin(T0 + DAY + 3600)
    with closing(sqlite3.connect(run.history.path)) as db:
        kept = [ts for (ts,) in db.execute("SELECT ts FROM service_frames ORDER BY ts")]
    assert kept == [int(T0), int(T0 + 600), int(T0 + 1200), int(T0 + 29 * 60)]
    clock.t = T0 + DAY + 3600
    # A window starting in the thinned past starts at the kept frame before it: early, never late.
    assert run.history.window(T0 + 660, T0 + 29 * 60)["GET /x"]["count"] == 29 - 10
    clock.t = T0 + 40 * DAY
    run.history.thin(clock.t)  # past the retention (15 days by default): gone
    assert run.history.window(T0 - 1, T0 + 30 * DAY) == {}


def test_availability_is_the_share_of_minutes_with_a_heartbeat(run: Run, clock: Clock) -> None:
    assert run.history.availability(T0 - DAY, T0)["percent"] is None  # no history at all
    for minute in (0, 1, 2, 5, 6):  # down for minutes 3 and 4
        clock.t = T0 + 60 * minute + 1
        run.history.record()
    clock.t = T0 + 60 * 7 + 5  # minute 7 under way, its heartbeat not written yet: not counted as missed
    found = run.history.availability(clock.t - DAY, clock.t)
    assert found == {"percent": pytest.approx(100 * 5 / 7), "answered": 5, "intervals": 7, "interval_seconds": 60,
                     "since": T0}
    clock.t = T0 + 60 * 9  # minutes 7 and 8 are over without a heartbeat
    assert run.history.availability(clock.t - DAY, clock.t)["intervals"] == 9  # minutes 0 to 8


def test_the_last_error_is_shared_by_workers_and_carries_no_message(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "summary.sqlite"
    worker_one, worker_two = Run(path, "a", clock), Run(path, "a", clock)
    app = Flask(__name__)

    @app.get("/boom/<int:n>")
    def boom(n: int) -> str:
        if n == 0:
            raise ZeroDivisionError("secret=hunter2")
        abort(503)

    app.wsgi_app = FlaskTiming(app, worker_one.http, worker_one.history.record_error)  # type: ignore[method-assign]
    with app.test_client() as client:
        client.get("/boom/0").close()
    errors = worker_two.history.last_errors()
    assert errors == {"GET /boom/<int:n>": {"time": "2027-01-15T08:00:00Z", "timestamp": T0, "statusCode": 500,
                                            "error": "ZeroDivisionError"}}
    assert "hunter2" not in str(errors)
    clock.t = T0 + 5
    with app.test_client() as client:
        client.get("/boom/1").close()
    assert worker_two.history.last_errors()["GET /boom/<int:n>"]["error"] == "Service Unavailable"
    rows = worker_one.history.window(T0 - 60, T0 + 5)["GET /boom/<int:n>"]
    assert (rows["count"], rows["errors"]) == (2, 2)


def test_labels_are_bounded(tmp_path: Path, clock: Clock) -> None:
    run = Run(tmp_path / "summary.sqlite", "a", clock)
    app = Flask(__name__)
    app.add_url_rule("/runs/<run_id>", "run", lambda run_id: run_id, methods=["GET"])
    app.wsgi_app = FlaskTiming(app, run.http)  # type: ignore[method-assign]
    with app.test_client() as client:
        for path, method in (("/runs/1", "GET"), ("/runs/2", "GET"), ("/nowhere", "GET"), ("/runs/3", "BREW"),
                             ("/runs/4", "DELETE")):
            client.open(path, method=method).close()
    series = {labels: s.count for labels, s in Reader(run.table).read(HTTP_DURATION).items()}
    assert series == {("/runs/<run_id>", "GET", "200"): 2, ("unmatched", "GET", "404"): 1,
                      ("unmatched", "_OTHER", "405"): 1, ("unmatched", "DELETE", "405"): 1}


@pytest.mark.parametrize(("figures", "env", "status", "budgets"), [
    ({"responseTimePercentile": 150.0, "errorRate": 0.0, "uptime": 100.0, "cpu": 10.0, "memory": 10.0}, {}, "healthy",
     []),
    ({"responseTimePercentile": 250.0, "errorRate": 0.0, "uptime": 100.0, "cpu": 10.0, "memory": 10.0}, {}, "warning",
     ["response_time"]),
    ({"responseTimePercentile": 250.0, "errorRate": 0.0, "uptime": 100.0, "cpu": 10.0, "memory": 10.0},
     {"ALERT_THRESHOLD_RESPONSE_TIME": "300"}, "healthy", []),
    ({"responseTimePercentile": 250.0, "errorRate": 0.5, "uptime": 99.0, "cpu": 10.0, "memory": 10.0}, {}, "critical",
     ["response_time", "error_rate", "uptime"]),
    ({"responseTimePercentile": None, "errorRate": None, "uptime": 100.0, "cpu": 81.0, "memory": 10.0}, {}, "warning",
     ["cpu"]),
])
def test_status_follows_the_service_budgets(figures: dict[str, float | None], env: dict[str, str], status: str,
                                            budgets: list[str]) -> None:
    verdict = decide(figures, service_thresholds(Config(), env))
    assert verdict["status"] == status
    assert [b["budget"] for b in verdict["breaches"]] == budgets
    assert verdict["unknown"] == [name for name, value in figures.items() if value is None]


def test_a_file_the_server_sends_itself_stays_its_file_wrapper(tmp_path: Path, clock: Clock) -> None:
    run = Run(tmp_path / "summary.sqlite", "a", clock)
    (tmp_path / "beacon.js").write_text("// js\n")
    app = Flask(__name__)
    app.add_url_rule("/beacon.js", "js", lambda: send_file(tmp_path / "beacon.js"))
    app.wsgi_app = FlaskTiming(app, run.http)  # type: ignore[method-assign]
    environ = EnvironBuilder("/beacon.js").get_environ()
    environ["wsgi.file_wrapper"] = FileWrapper
    body = app.wsgi_app(environ, lambda status, headers, exc_info=None: None)
    assert isinstance(body, FileWrapper)  # gunicorn can still sendfile() it
    body.close()
    assert {labels: s.count for labels, s in Reader(run.table).read(HTTP_DURATION).items()} == {
        ("/beacon.js", "GET", "200"): 1}
