"""The cost of anonymous reads (issue 11, point 3): before (a git worktree of --baseline) and now, in one run.

    .venv/bin/python benchmarks/reads.py [--series 4000] [--baseline 5e32e9f] [--loop-seconds 5] [--day-minutes 1440]

Against `perfbudget serve` (granian, 2 workers, one after the other: the baseline's, then this checkout's),
loaded with --series vital series (routes x five vitals, one device; max_routes raised to hold them):
  * GET /api/web-vitals latency, median of 5: cold (an answer nobody asked for yet: every request a new
    window, 1.2 s apart, so neither the shared answers nor the one-second read of the slabs can help;
    only decoded snapshot frames are reused) and warm (the same request again);
  * GET /api/web-vitals?window=1h at 10,000 series, cold: issue 16's target of 100 ms;
  * beacon latency (one client, one small beacon at a time, p50 and p99) for --loop-seconds while 8 clients
    loop on GET /api/web-vitals: with the read rate limit off (what the reads cost), the same URL and then a
    new window on every GET (nothing cached: the cold path under load); and with the default limit (the
    baseline has none);
  * GET /-/ready latency (it used to look snapshots up).
Each server starts with --old-minutes of snapshots of an earlier run in its summary.sqlite (written as
below, ending now): the reads of an exporter that has run for a while, not of a fresh one.
Then, in-process, the snapshots of a simulated day at the default route cap (200 routes x 4 devices x 5
vitals; every series gets 1 to 8 observations a minute; the vitals a device budget names kept per device
too, as the summary keeps them): bytes of summary.sqlite per day, and one lookup.
The baseline's store (one row per series and minute, a scan per lookup) takes --old-minutes minutes,
scaled to a day; this checkout's takes --day-minutes (a full day by default).
Figures only; it asserts nothing. The machine's load average is printed: take figures when it is low.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from ingest import free_port, run  # noqa: E402  (sibling scripts, not a package)
from memory import clean_env, send_routes, worktree  # noqa: E402

GET_LOOPERS = 8
DEVICES = ("phone", "tablet", "desktop", "unknown")
ROUTE_CAP = 200
COLD_PAUSE = 1.2  # past the second a read of the slabs is reused for


def get(conn: HTTPConnection, path: str) -> tuple[float, int, dict[str, str]]:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return time.perf_counter() - started, response.status, dict(response.getheaders())


def median_ms(port: int, paths: list[str], pause: float = 0.0) -> float:
    conn = HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for path in paths:
        time.sleep(pause)
        elapsed, status, _ = get(conn, path)
        if status != 200:
            raise SystemExit(f"GET {path}: {status}")
        times.append(elapsed)
    conn.close()
    return statistics.median(times) * 1000


def beacon_latency(port: int, seconds: float, loopers: int, busting: bool = False) -> tuple[float, float, int, int]:
    """(beacon p50 ms, p99 ms, GETs answered 200, GETs refused 429) while `loopers` clients loop on GETs (each
    a new window when `busting`, so that every one is computed)."""
    stop = threading.Event()
    answered = [0, 0]
    lock = threading.Lock()
    windows = itertools.cycle(range(2, 10_080))

    def loop() -> None:
        conn = HTTPConnection("127.0.0.1", port, timeout=60)
        while not stop.is_set():
            _, status, _ = get(conn, f"/api/web-vitals?window={next(windows)}m" if busting else "/api/web-vitals")
            with lock:
                answered[0 if status == 200 else 1] += 1

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(loopers)]
    for thread in threads:
        thread.start()
    conn = HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        body = json.dumps([{"name": "LCP", "value": 1800, "id": f"b-{os.getpid()}-{time.time_ns()}-{n}",
                            "pageUrl": "https://shop.test/section-1/"}]).encode()
        n += 1
        started = time.perf_counter()
        conn.request("POST", "/api/web-vitals", body, {"Content-Type": "text/plain"})
        conn.getresponse().read()
        times.append(time.perf_counter() - started)
    stop.set()
    for thread in threads:
        thread.join(60)
    times.sort()
    return (statistics.median(times) * 1000, times[min(len(times) - 1, int(0.99 * len(times)))] * 1000,
            answered[0], answered[1])


def serve(name: str, cwd: Path, env: dict[str, str], work: Path, routes: int, extra: str,
          full: bool = True, seed: Path | None = None) -> dict[str, object]:
    """Measure one server; `seed` is a summary.sqlite to start with (snapshots of an earlier run)."""
    port = free_port()
    run_dir = work / name
    run_dir.mkdir(parents=True)
    if seed is not None:
        (run_dir / "data").mkdir()
        shutil.copyfile(seed, run_dir / "data" / "summary.sqlite")
    config = run_dir / "perfbudget.yml"
    config.write_text(f"routes:\n  max_routes: {routes}\nbeacons:\n  rate_limit: 'off'\n  max_batch: 1000\n"
                      f"  max_body_bytes: {1 << 20}\ndata_dir: {run_dir / 'data'}\n{extra}")
    args = [sys.executable, "-m", "perfbudget", "serve", "--config.file", str(config), "--web.listen-address",
            f"127.0.0.1:{port}", "--workers", "2", "--server", "granian"]
    full_env = {**env, "PERFBUDGET_RATE_LIMIT": "off", "PROMETHEUS_MULTIPROC_DIR": str(run_dir / "multiproc")}
    with run(args, f"http://127.0.0.1:{port}/-/ready", full_env, cwd=cwd, log=run_dir / "server.log"):
        return measure(port, full)


def measure(port: int, full: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    steps = ARGS.series
    send_routes(port, 0, steps // 5)
    if not full:
        out["beacons"] = beacon_latency(port, ARGS.loop_seconds, GET_LOOPERS)
        return out
    windows = iter(range(61, 10_000))
    out["cold"] = median_ms(port, [f"/api/web-vitals?window={next(windows)}m" for _ in range(5)], COLD_PAUSE)
    median_ms(port, ["/api/web-vitals?window=1h"])
    out["warm"] = median_ms(port, ["/api/web-vitals?window=1h"] * 5)
    out["ready"] = median_ms(port, ["/-/ready"] * 5)
    out["beacons"] = beacon_latency(port, ARGS.loop_seconds, GET_LOOPERS)
    out["busting"] = beacon_latency(port, ARGS.loop_seconds, GET_LOOPERS, busting=True)
    if steps < 10_000:
        send_routes(port, steps // 5, 10_000 // 5)
        out["cold10k"] = median_ms(port, [f"/api/web-vitals?window={next(windows)}m" for _ in range(5)], COLD_PAUSE)
    return out


# --- snapshots of a simulated day ------------------------------------------------------------------------

SIMULATE = r"""
import json, random, sqlite3, sys, time
from pathlib import Path
from perfbudget.budgets.model import load_budgets
from perfbudget.config import Config
from perfbudget.reload import histogram_edges
budgets = load_budgets(Config().budgets_file)
edges = histogram_edges(budgets)
try:  # the vitals a device budget names are also kept per device (since issue 12's device verdicts)
    from perfbudget.summary import device_key
    device_vitals = {budget.metric for budget in budgets.vitals if budget.device is not None}
except ImportError:
    device_vitals = set()
minutes, path, old = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "old"
routes = [f"/section-{i}/" for i in range(%(cap)d)]
devices = %(devices)r
rng = random.Random(1)
counts = {(v, r, d): [0] * (len(e) + 1) for v, e in edges.items() for r in routes for d in devices}
if old:
    from perfbudget.summary import SnapshotStore
else:
    from perfbudget.snapshots import SnapshotStore
store = SnapshotStore(path)
store.begin_epoch("run", 0)
start = int(time.time()) // 60 * 60 - 60 * minutes  # the snapshots end now
spent = 0.0
for minute in range(minutes):
    for (v, r, d), row in counts.items():
        n = len(row)
        for _ in range(rng.randint(1, 8)):
            row[min(n - 1, int(rng.triangular(0, n, n / 3)))] += 1
    if old:  # cumulative counts per series, as the old store took them
        frame = {key: [float(c) for c in __import__("itertools").accumulate(row)] for key, row in counts.items()}
    else:  # per vital and route, devices summed (and per device for device_vitals), as read_histograms gives them
        frame = {}
        for (v, r, d), row in counts.items():
            acc = frame.setdefault(v, {}).get(r)
            frame[v][r] = list(row) if acc is None else [a + b for a, b in zip(acc, row)]
            if v in device_vitals:
                frame.setdefault(device_key(v, d), {})[r] = list(row)
    began = time.perf_counter()
    store.save("run", start + 60 * minute, frame)
    spent += time.perf_counter() - began
with sqlite3.connect(path) as db:
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
size = path.stat().st_size
t = start + 60 * minutes - 1800
began = time.perf_counter()
for _ in range(4):
    store.at(t, None) if old else store.at(t)
lookup = (time.perf_counter() - began) / 4
print(json.dumps({"minutes": minutes, "bytes": size, "save_ms": spent / minutes * 1000, "lookup_ms": lookup * 1000}))
"""


def simulate(env: dict[str, str], cwd: Path, minutes: int, old: bool, path: Path) -> dict[str, float]:
    code = SIMULATE % {"cap": ROUTE_CAP, "devices": DEVICES}
    done = subprocess.run([sys.executable, "-c", code, str(minutes), str(path), "old" if old else "new"], env=env,
                          cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    result: dict[str, float] = json.loads(done.stdout)
    return result


# --- report -----------------------------------------------------------------------------------------------


def _row(label: str, before: object, now: object) -> str:
    return f"  {label:<58} {before!s:>16} {now!s:>16}"


def main() -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=4000)
    parser.add_argument("--baseline", default="5e32e9f", help="revision for 'before'")
    parser.add_argument("--loop-seconds", type=float, default=5.0)
    parser.add_argument("--day-minutes", type=int, default=1440)
    parser.add_argument("--old-minutes", type=int, default=180)
    ARGS = parser.parse_args()
    routes = max(ARGS.series, 10_000) // 5
    print(f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    work = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    with worktree(ARGS.baseline, work) as tree:
        old_env = {**clean_env(), "PYTHONPATH": str(tree / "exporter")}
        old_day = simulate(old_env, tree, ARGS.old_minutes, True, work / "old.sqlite")
        before = serve("before", tree, old_env, work, routes, "", seed=work / "old.sqlite")
    simulate(clean_env(), ROOT, ARGS.old_minutes, False, work / "aged.sqlite")
    now = serve("now", ROOT, clean_env(), work, routes, "server:\n  read_rate_limit: 'off'\n",
                seed=work / "aged.sqlite")
    limited = serve("limited", ROOT, clean_env(), work, routes, "", full=False)
    new_day = simulate(clean_env(), ROOT, ARGS.day_minutes, False, work / "day.sqlite")
    print(f"load average at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")

    def beacons(result: dict[str, object], key: str = "beacons") -> str:
        p50, p99, _, _ = result[key]  # type: ignore[misc]
        return f"{p50:.1f}/{p99:.1f}"

    def gets(result: dict[str, object], key: str = "beacons") -> str:
        _, _, ok, refused = result[key]  # type: ignore[misc]
        return f"{ok}/{refused}"

    print()
    print(f"perfbudget serve, granian, 2 workers; before = {ARGS.baseline}, now = this checkout; summary.sqlite"
          f" starts with {ARGS.old_minutes} min of another run's snapshots at the route cap")
    print(_row("", "before", "now"))
    print(_row(f"GET /api/web-vitals at {ARGS.series} series, cold (ms)", f"{before['cold']:.1f}",
               f"{now['cold']:.1f}"))
    print(_row(f"GET /api/web-vitals at {ARGS.series} series, warm (ms)", f"{before['warm']:.1f}",
               f"{now['warm']:.1f}"))
    print(_row("GET /api/web-vitals at 10000 series, cold (ms; target <= 100)",
               f"{before.get('cold10k', before['cold']):.1f}", f"{now.get('cold10k', now['cold']):.1f}"))
    print(_row("GET /-/ready (ms)", f"{before['ready']:.1f}", f"{now['ready']:.1f}"))
    print(_row(f"beacon p50/p99 (ms), {GET_LOOPERS} clients looping on GETs, no read limit", beacons(before),
               beacons(now)))
    print(_row("  GETs answered/refused meanwhile", gets(before), gets(now)))
    print(_row("beacon p50/p99 (ms), same, each GET a new window (no cache)", beacons(before, "busting"),
               beacons(now, "busting")))
    print(_row("  GETs answered/refused meanwhile", gets(before, "busting"), gets(now, "busting")))
    print(_row("beacon p50/p99 (ms), same URL, default read limit (20/second)", "-", beacons(limited)))
    print(_row("  GETs answered/refused meanwhile", "-", gets(limited)))
    per_day_old = old_day["bytes"] * 1440 / old_day["minutes"]
    per_day_new = new_day["bytes"] * 1440 / new_day["minutes"]
    print(_row(f"summary.sqlite per simulated day at the cap (MB; {old_day['minutes']:.0f} / "
               f"{new_day['minutes']:.0f} min simulated)", f"{per_day_old / 1e6:.1f}", f"{per_day_new / 1e6:.1f}"))
    print(_row("one snapshot lookup at the end (ms)", f"{old_day['lookup_ms']:.1f}", f"{new_day['lookup_ms']:.1f}"))
    print(_row("one minute's snapshot save (ms)", f"{old_day['save_ms']:.1f}", f"{new_day['save_ms']:.1f}"))
    return 0


ARGS: argparse.Namespace
if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
