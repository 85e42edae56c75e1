"""The snapshot frames: compact (keyframes and deltas), thinned with age, and every lookup still exact."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from perfbudget.snapshots import DAY, WEEK, SnapshotStore

EDGES = 6  # buckets per vital, +Inf included
START = 100 * DAY


def _traffic(minutes: int, routes: int, seed: int = 7) -> list[dict[str, dict[str, list[int]]]]:
    """Cumulative counts per minute: every route gets a few observations of each of two vitals each minute."""
    rng = random.Random(seed)
    counts = {vital: {f"/r{i}": [0] * EDGES for i in range(routes)} for vital in ("LCP", "INP")}
    out = []
    for _ in range(minutes):
        for by_route in counts.values():
            for row in by_route.values():
                for _ in range(rng.randint(0, 4)):
                    row[rng.randrange(EDGES)] += 1
        out.append({vital: {route: list(row) for route, row in by_route.items()} for vital, by_route in counts.items()})
    return out


def test_a_week_of_minute_snapshots_is_thinned_with_age_and_every_kept_frame_reads_back_exactly(
        tmp_path: Path) -> None:
    minutes = 7 * 24 * 60 + 3 * 60  # a week and three hours
    truth = _traffic(minutes, routes=2)
    store = SnapshotStore(tmp_path / "summary.sqlite")
    store.begin_epoch("run", START)
    for minute, rows in enumerate(truth):
        store.save("run", START + 60 * minute, rows)
    now = START + 60 * (minutes - 1)
    store.downsample(now)

    kept = [ts for (ts,) in sqlite3.connect(tmp_path / "summary.sqlite").execute("SELECT ts FROM frames ORDER BY ts")]
    last_day = [ts for ts in kept if ts >= now - DAY]
    week = [ts for ts in kept if now - WEEK <= ts < now - DAY]
    older = [ts for ts in kept if ts < now - WEEK]
    assert len(last_day) == 24 * 60 + 1  # one a minute (both ends included)
    assert all(ts % 600 == 0 for ts in week) and len(week) == 6 * 24 * 6  # one per ten minutes
    assert all(ts % 3600 == 0 for ts in older) and len(older) == 3  # one an hour
    assert len(kept) < minutes / 3

    for t in (now, now - 90, now - DAY - 1, now - 3 * DAY + 599, now - WEEK - 1, START + 3599, START + 30):
        found = store.heads(t)["run"]
        assert found.ts <= t and found.ts in kept
        assert t - found.ts < (60 if t >= now - DAY else 600 if t >= now - WEEK else 3600)
        frame = store.at(t)["run"]
        expected = truth[(found.ts - START) // 60]
        assert frame.rows == expected
        assert frame.counts("LCP", None) == [sum(col) for col in zip(*expected["LCP"].values(), strict=True)]
    assert store.size() < 2 * 2**20


def test_a_day_at_the_route_cap_takes_tens_of_megabytes_not_a_gigabyte(tmp_path: Path) -> None:
    # 200 routes x 5 vitals, every route reporting every minute; two hours, then scaled to a day.
    truth = _traffic(120, routes=200)
    store = SnapshotStore(tmp_path / "summary.sqlite")
    store.begin_epoch("run", START)
    for minute, rows in enumerate(truth):
        store.save("run", START + 60 * minute, {f"{vital}{i}": rows[vital] for vital in rows for i in range(3)})
    assert store.size() * 12 < 50 * 2**20


def test_an_epoch_keeps_its_last_frame_and_a_window_starts_early_never_late(tmp_path: Path) -> None:
    truth = _traffic(3 * 24 * 60, routes=2)
    store = SnapshotStore(tmp_path / "summary.sqlite")
    store.begin_epoch("old", START)
    end = START + 60 * 1000 + 7 * 60  # the run stopped at minute 1007: not on a ten-minute mark
    for minute in range(1008):
        store.save("old", START + 60 * minute, truth[minute])
    store.begin_epoch("new", end + 60)
    store.save("new", START + 60 * (3 * 24 * 60 - 1), truth[0])
    store.downsample(START + 60 * (3 * 24 * 60 - 1))
    assert store.heads(end + 3600)["old"].ts == end  # its end is kept: no report of the run is lost
    assert store.at(end + 3600)["old"].rows == truth[1007]


def test_the_layout_before_frames_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "summary.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE snapshots (epoch TEXT, ts INTEGER, vital TEXT, route TEXT, device TEXT, counts BLOB)")
    SnapshotStore(path).drop_legacy()
    tables = {name for (name,) in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "snapshots" not in tables and "frames" in tables


def test_a_replaced_minute_reads_back_its_new_counts(tmp_path: Path) -> None:
    truth = _traffic(3, routes=2)
    store = SnapshotStore(tmp_path / "summary.sqlite")
    store.begin_epoch("run", START)
    store.save("run", START, truth[0])
    store.save("run", START + 60, truth[1])
    assert store.at(START + 60)["run"].rows == truth[1]
    store.save("run", START + 60, truth[0])  # first writer wins
    assert store.at(START + 60)["run"].rows == truth[1]
    store.save("run", START + 60, truth[2], replace=True)  # the shutdown snapshot replaces it
    assert store.at(START + 60)["run"].rows == truth[2]
    store.save("run", START, truth[1], replace=True)  # the hour's keyframe replaced: its deltas go with it
    assert store.at(START + 60)["run"].rows == truth[1]
