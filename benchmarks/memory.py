"""Memory and scrape cost against active series, before the metrics store (a git worktree of `--baseline`) and now.

    .venv/bin/python benchmarks/memory.py [--workers 2] [--steps 1000,10000,50000] [--baseline REV]
    .venv/bin/python benchmarks/memory.py --series-table [--frames] [--routes 50] [--minutes 1440]

--series-table prints, in a second and without a server, the series every slab of the default config reserves
with each optional label on (site with 3 sites, version with the default releases.keep, navigation_type) and
what LCP's subparts and INP's phases add, from the store's real layout (metrics.store_specs, store.Layout):
series and bytes per family kind, and the bytes a series takes. --frames also saves a day of the summary's
minute frames (snapshots.py, the real SnapshotStore) for --routes routes with traffic every minute, with and
without the parts' keys that summary_breakdown.py adds, and prints summary.sqlite's bytes per day.

A series is one (vital, route, device) histogram; each page view reports all five vitals for a new route
(with LCP's subparts, INP's phases, attribution and a User-Agent, as beacon.js sends them: ATTRIBUTION),
so N series take N/5 routes (max_routes is raised to fit, up to its limit of 10,000: 50k series). The series
are loaded in batched beacons (100 page views each) over several connections. At each step, against
`perfbudget serve` (granian, `--workers`), it measures: RSS and PSS summed over every process of the server
(master and workers; RSS counts the shared slabs once per process that maps them, PSS splits them), the
disk the multiprocess directory takes (client_python's .db files before, the store's sparse slabs now),
the /metrics scrape time (median of 3, one when it takes over 2 s) and size, and the median latency of
`GET /api/web-vitals`.

"Before" is `perfbudget serve` started from a worktree of REV with PYTHONPATH=<worktree>/exporter, so the
old package is imported with this virtualenv's dependencies; REV defaults to the parent of the commit
"The metrics store wired in". "Now" is this checkout. The two servers run one after the other, never at
once. It prints one table with both, the issue's targets beside the figures for now, and the series the
default config reserves with and without the navigation_type label. Figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

from perfbudget.budgets.model import load_budgets
from perfbudget.config import Config
from perfbudget.metrics import store_specs, vital_specs
from perfbudget.reload import histogram_edges
from perfbudget.snapshots import SnapshotStore
from perfbudget.store import Layout
from perfbudget.subparts import BREAKDOWNS
from perfbudget.summary_breakdown import PART_EDGES
from perfbudget.vitals import VITALS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from ingest import free_port, run  # noqa: E402  (a sibling script, not a package)

REPORTS = (("LCP", 2100), ("FCP", 900), ("TTFB", 300), ("CLS", 0.03), ("INP", 120))
PAGE_VIEWS_PER_BEACON = 100  # 500 reports, about 60 kB: under max_batch and max_body_bytes set below
CONNECTIONS = 4
SCRAPE_TIMEOUT = 60.0
STORE_COMMIT = "^The metrics store wired in"
# Issue 16's targets: series -> (RSS MiB, scrape s); and GET /api/web-vitals at 10k series.
TARGETS = {10_000: (200.0, 0.5), 50_000: (400.0, 3.0)}
SUMMARY_TARGET = (10_000, 100.0)


@dataclass(frozen=True)
class Step:
    series: int  # loaded
    seen: int  # vitals series in the scrape (`_count` lines)
    rss_mib: float
    pss_mib: float
    files_mib: float
    scrape_s: float | None  # None: no answer within SCRAPE_TIMEOUT
    metrics_bytes: int | None
    summary_ms: float | None


# --- processes ---------------------------------------------------------------------------------------------


def _status_kib(path: str, field: str) -> int:
    try:
        with open(path) as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def family(root_pid: int) -> list[int]:
    """The server's process and all its descendants."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        pid, ppid = (int(x) for x in line.split())
        children.setdefault(ppid, []).append(pid)
    pids, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children.get(pid, [])
    return pids


def memory_mib(root_pid: int) -> tuple[list[float], float]:
    """(RSS per process, PSS summed over them) for the server's processes, MiB."""
    pids = family(root_pid)
    rss = [_status_kib(f"/proc/{pid}/status", "VmRSS:") / 1024 for pid in pids]
    pss = sum(_status_kib(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in pids)
    return rss, pss / 1024


def allocated_mib(directory: Path) -> float:
    """Disk blocks the files take (the slabs are sparse: their apparent size says little)."""
    return sum(p.stat().st_blocks * 512 for p in directory.rglob("*") if p.is_file()) / 2**20


# --- load and measure ----------------------------------------------------------------------------------------


#: What a browser's beacon carries beside the values (beacon.js, web-vitals' attribution build): LCP's subparts
#: and INP's phases (adding up to REPORTS' values, so the store records them), the elements and URLs the
#: attribution top-K keeps, and a User-Agent (the device class parses it): the default work per page view.
ATTRIBUTION = {
    "LCP": {"target": "#hero > img", "url": "https://cdn.shop.test/hero.jpg", "timeToFirstByte": 180,
            "resourceLoadDelay": 310, "resourceLoadDuration": 1200, "elementRenderDelay": 410},
    "INP": {"interactionTarget": "button.add-to-cart", "interactionType": "pointer", "inputDelay": 12,
            "processingDuration": 78, "presentationDelay": 30},
    "CLS": {"largestShiftTarget": "div.banner", "largestShiftValue": 0.02},
}
USER_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.4 Mobile/15E148 Safari/604.1")


def _beacon(first: int, stop: int) -> bytes:
    reports = []
    for route in range(first, stop):
        page = f"https://shop.test/section-{route}/"
        reports += [{"name": n, "value": v, "id": f"r{route}", "pageUrl": page,
                     **({"attribution": ATTRIBUTION[n]} if n in ATTRIBUTION else {})} for n, v in REPORTS]
    return json.dumps(reports).encode()


def send_routes(port: int, start: int, stop: int) -> None:
    """Routes [start, stop) x five vitals, in batched beacons over CONNECTIONS keep-alive connections."""
    local = threading.local()

    def post(first: int) -> None:
        last = min(first + PAGE_VIEWS_PER_BEACON, stop)
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = HTTPConnection("127.0.0.1", port, timeout=SCRAPE_TIMEOUT)
        conn.request("POST", "/api/web-vitals", _beacon(first, last),
                     {"Content-Type": "text/plain", "User-Agent": USER_AGENT})
        response = conn.getresponse()
        raw = response.read()
        expected = (last - first) * len(REPORTS)
        if response.status != 200 or json.loads(raw).get("received") != expected:
            raise SystemExit(f"beacon for routes {first}..{last} answered {response.status}: {raw[:300]!r}")

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        list(pool.map(post, range(start, stop, PAGE_VIEWS_PER_BEACON)))


def timed_get(port: int, path: str, conn: HTTPConnection | None = None) -> tuple[float, bytes]:
    own = conn is None
    conn = conn or HTTPConnection("127.0.0.1", port, timeout=SCRAPE_TIMEOUT)
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    if own:
        conn.close()
    if response.status != 200:
        raise SystemExit(f"GET {path} answered {response.status}: {body[:300]!r}")
    return elapsed, body


def median_get(port: int, path: str, times: int, keep_alive: bool) -> tuple[float | None, bytes | None]:
    """Median seconds over `times` requests (a single one when the first takes over 2 s), and the last body;
    (None, None) when a request gets no answer within SCRAPE_TIMEOUT."""
    conn = HTTPConnection("127.0.0.1", port, timeout=SCRAPE_TIMEOUT) if keep_alive else None
    runs: list[float] = []
    body = None
    try:
        while len(runs) < times and (not runs or runs[-1] <= 2):
            elapsed, body = timed_get(port, path, conn)
            runs.append(elapsed)
    except TimeoutError:
        return None, None
    finally:
        if conn is not None:
            conn.close()
    return statistics.median(runs), body


def seen_series(body: bytes) -> int:
    prefixes = tuple(f"{vital.metric}_count{{".encode() for vital in VITALS.values())
    return sum(1 for line in body.splitlines() if line.startswith(prefixes))


def measure(name: str, cmd: list[str], env: dict[str, str], cwd: Path, work: Path, steps: list[int],
            workers: int) -> list[Step]:
    port = free_port()
    run_dir = work / name
    run_dir.mkdir()
    multiproc = run_dir / "multiproc"
    config = run_dir / "perfbudget.yml"
    # Every path is its own route here (no collapsing), and the caps are raised to hold them and the batches.
    config.write_text(f"routes:\n  max_routes: {min(10_000, max(1, max(steps) // len(REPORTS)))}\n"
                      f"beacons:\n  rate_limit: 'off'\n  max_batch: 1000\n  max_body_bytes: {1 << 20}\n"
                      f"data_dir: {run_dir / 'data'}\n")
    full_env = {**env, "PERFBUDGET_RATE_LIMIT": "off", "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    args = [*cmd, "serve", "--config.file", str(config), "--web.listen-address", f"127.0.0.1:{port}",
            "--workers", str(workers), "--server", "granian"]
    out: list[Step] = []
    with run(args, f"http://127.0.0.1:{port}/-/ready", full_env, cwd=cwd, log=run_dir / "server.log") as proc:
        routes_sent = 0
        for series in steps:
            routes = series // len(REPORTS)
            loading = time.perf_counter()
            send_routes(port, routes_sent, routes)
            routes_sent = routes
            loaded = time.perf_counter() - loading
            scrape, body = median_get(port, "/metrics", 3, keep_alive=False)
            summary, _ = median_get(port, "/api/web-vitals", 5, keep_alive=True)
            per_process, pss = memory_mib(proc.pid)
            rss = sum(per_process)
            size = len(body) if body is not None else None
            step = Step(series, seen_series(body) if body is not None else -1, rss, pss, allocated_mib(multiproc),
                        scrape, size, summary * 1000 if summary is not None else None)
            out.append(step)
            print(f"  {name}: {series} series ({step.seen} in the scrape) loaded in {loaded:.1f} s; RSS {rss:.0f} MiB"
                  f" ({' + '.join(f'{x:.0f}' for x in per_process)}), scrape {_s(scrape)},"
                  f" /api/web-vitals {_ms(step.summary_ms)}", flush=True)
    return out


# --- baseline ------------------------------------------------------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def default_baseline() -> str:
    wired = git("log", "-1", "--format=%h", f"--grep={STORE_COMMIT}", "--", "exporter/perfbudget/metrics.py")
    if not wired:
        raise SystemExit("no commit 'The metrics store wired in' touches metrics.py: pass --baseline REV")
    return f"{wired}~1"


@contextmanager
def worktree(rev: str, parent: Path) -> Iterator[Path]:
    path = parent / "baseline"
    git("worktree", "add", "--detach", str(path), rev)
    try:
        yield path
    finally:
        git("worktree", "remove", "--force", str(path))


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("OTEL_", "PERFBUDGET_", "PROMETHEUS_")) and k != "PYTHONPATH"}


def imported_from(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-c", "import perfbudget; print(perfbudget.__file__)"], env=env,
                          capture_output=True, text=True, check=True).stdout.strip()


# --- report --------------------------------------------------------------------------------------------------


def navigation_type_series() -> list[str]:
    """What the default config's store reserves per slab, with and without the navigation_type label."""
    config = Config()
    edges = histogram_edges(load_budgets(config.budgets_file))
    lines = []
    for label in (False, True):
        specs = vital_specs(edges, config.routes.max_routes, label)
        series = sum(spec.capacity for spec in specs)
        lines.append(f"  navigation_type_label {'on ' if label else 'off'}: {series:>6} vitals series reserved "
                     f"({specs[0].capacity} per vital), {Layout(specs).size / 2**20:.1f} MiB per slab (sparse)")
    return [f"Default config (max_routes {config.routes.max_routes}):", *lines]


def _kind(name: str) -> str:
    if name in {vital.metric for vital in VITALS.values()}:
        return "vitals"
    return "parts" if name in {b.metric for b in BREAKDOWNS.values()} else "rest"


def series_table(sites: int = 3) -> list[str]:
    """The series each slab reserves per configuration, by kind (vitals, LCP subparts and INP phases, the
    rest), with the bytes of the sparse slab and per series, from metrics.store_specs and store.Layout."""
    config = Config()
    edges = histogram_edges(load_budgets(config.budgets_file))
    routes, keep = config.routes.max_routes, config.releases.keep
    rows = [("default", {}), (f"+ site ({sites} sites)", {"sites": sites}),
            (f"+ version (releases.keep {keep})", {"versions": keep}),
            ("+ navigation_type", {"navigation_type_label": True}),
            ("all three on", {"sites": sites, "versions": keep, "navigation_type_label": True})]
    head = (f"{'configuration':34} {'vitals':>9} {'subparts+phases':>15} {'rest':>6} {'total':>9} "
            f"{'slab MiB':>9} | {'B/vital series':>14} {'B/part series':>13}")
    out = [f"Series reserved per slab (one slab per worker), max_routes {routes}, 4 devices; LCP's subparts and "
           "INP's phases are always on (labels route, device[, site]; no version or navigation_type):", head,
           "-" * len(head)]
    for label, options in rows:
        layout = Layout(store_specs(edges, routes, **options))
        series = {"vitals": 0, "parts": 0, "rest": 0}
        size = {"vitals": 0, "parts": 0}
        for region in layout.regions:
            kind = _kind(region.spec.name)
            series[kind] += region.capacity
            if kind in size:
                size[kind] += region.size
        per_vital, per_part = size["vitals"] / series["vitals"], size["parts"] / series["parts"]
        out.append(f"{label:34} {series['vitals']:>9} {series['parts']:>15} {series['rest']:>6} "
                   f"{sum(series.values()):>9} {layout.size / 2**20:>9.1f} | {per_vital:>14.0f} {per_part:>13.0f}")
    out.append("A series is its key (256 bytes: the label values) and its slot (8 bytes x (edges + 3)); the slab is a "
               "sparse file: pages of series never observed take no memory.")
    return out


def frames_per_day(routes: int, minutes: int) -> list[str]:
    """summary.sqlite's bytes per day of minute frames for `routes` busy routes, without and with the parts."""
    edges = histogram_edges(load_budgets(Config().budgets_file))
    values = {"LCP": 2.2, "FCP": 1.0, "TTFB": 0.3, "CLS": 0.05, "INP": 0.15}
    parts = {key: 0.4 for key in PART_EDGES}
    out = [f"Summary frames (snapshots.py) for {routes} routes with 1-8 page views each a minute, {minutes} minutes "
           "saved, scaled to a day:"]
    work = Path(tempfile.mkdtemp(prefix="bench-frames-"))
    try:
        sizes = {}
        for with_parts in (False, True):
            rng = random.Random(1)
            ladder = {**edges, **(PART_EDGES if with_parts else {})}
            typical = {**values, **(parts if with_parts else {})}
            counts = {key: {f"/section-{r}/": [0] * (len(ladder[key]) + 1) for r in range(routes)} for key in ladder}
            store = SnapshotStore(work / f"summary-{with_parts}.sqlite")
            store.begin_epoch("run", 0, ladder)
            start = int(time.time()) // 60 * 60 - 60 * minutes
            for minute in range(minutes):
                for key, by_route in counts.items():
                    for row in by_route.values():
                        for _ in range(rng.randint(1, 8)):
                            row[bisect.bisect_left(ladder[key], rng.lognormvariate(0, 0.6) * typical[key])] += 1
                frame = {key: {route: list(row) for route, row in by_route.items()} for key, by_route in counts.items()}
                store.save("run", start + 60 * minute, frame)
            store.downsample(start + 60 * minutes)
            sizes[with_parts] = store.size() * 1440 / minutes
        out.append(f"  vitals only:              {sizes[False] / 2**20:8.2f} MiB per day")
        out.append(f"  with subparts and phases: {sizes[True] / 2**20:8.2f} MiB per day "
                   f"(x{sizes[True] / sizes[False]:.2f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _s(value: float | None) -> str:
    return f"{value:.3f} s" if value is not None else f"> {SCRAPE_TIMEOUT:.0f} s"


def _ms(value: float | None) -> str:
    return f"{value:.1f} ms" if value is not None else f"> {SCRAPE_TIMEOUT * 1000:.0f} ms"


def _bytes(value: int | None) -> str:
    return str(value) if value is not None else "-"


def table(before: list[Step], now: list[Step]) -> list[str]:
    head = (f"{'series':>7} {'seen b/n':>13} | {'RSS before':>10} {'RSS now':>8} | {'PSS before':>10} {'PSS now':>8} | "
            f"{'files before':>12} {'files now':>9} | {'scrape before':>13} {'scrape now':>10} | "
            f"{'/metrics bytes b/n':>21} | {'summary before':>14} {'summary now':>11}")
    rows = [head, "-" * len(head)]
    for b, n in zip(before, now, strict=True):
        rows.append(
            f"{n.series:>7} {f'{b.seen}/{n.seen}':>13} | {b.rss_mib:>6.0f} MiB {n.rss_mib:>4.0f} MiB | "
            f"{b.pss_mib:>6.0f} MiB {n.pss_mib:>4.0f} MiB | {b.files_mib:>8.1f} MiB {n.files_mib:>5.1f} MiB | "
            f"{_s(b.scrape_s):>13} {_s(n.scrape_s):>10} | "
            f"{_bytes(b.metrics_bytes):>10}/{_bytes(n.metrics_bytes):<10} | "
            f"{_ms(b.summary_ms):>14} {_ms(n.summary_ms):>11}")
    return rows


def targets(now: list[Step]) -> list[str]:
    by_series = {step.series: step for step in now}
    lines = ["Issue 16's targets (now):"]
    for series, (rss, scrape) in TARGETS.items():
        step = by_series.get(series)
        if step is None:
            continue
        scraped = step.scrape_s is not None and step.scrape_s <= scrape
        lines.append(f"  {series:>6} series: RSS {step.rss_mib:.0f} MiB (<= {rss:.0f}: "
                     f"{'met' if step.rss_mib <= rss else 'MISSED'}), scrape {_s(step.scrape_s)} (<= {scrape} s: "
                     f"{'met' if scraped else 'MISSED'})")
    series, ms = SUMMARY_TARGET
    if series in by_series:
        got = by_series[series].summary_ms
        lines.append(f"  GET /api/web-vitals at {series} series: {_ms(got)} (<= {ms:.0f} ms: "
                     f"{'met' if got is not None and got <= ms else 'MISSED'})")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", default="1000,10000,50000", help="active series to measure at")
    parser.add_argument("--baseline", default=None,
                        help="revision for 'before' (default: the parent of 'The metrics store wired in')")
    parser.add_argument("--series-table", action="store_true",
                        help="only print the series each configuration reserves (no server; about a second)")
    parser.add_argument("--frames", action="store_true", help="with --series-table: the summary frames' bytes a day")
    parser.add_argument("--routes", type=int, default=50, help="--frames: routes with traffic")
    parser.add_argument("--minutes", type=int, default=1440, help="--frames: minutes of frames saved")
    args = parser.parse_args()
    if args.series_table:
        print("\n".join(series_table()))
        if args.frames:
            print()
            print("\n".join(frames_per_day(args.routes, args.minutes)))
        return 0
    # 0: the server just started, nothing observed (the fixed cost the other rows grow from).
    steps = sorted({0, *(int(s) for s in args.steps.split(","))})
    if max(steps) // len(REPORTS) > 10_000:
        raise SystemExit("at most 50000 series: max_routes is capped at 10,000")
    rev = args.baseline or default_baseline()
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        with worktree(rev, work) as tree:
            old_env = {**clean_env(), "PYTHONPATH": str(tree / "exporter")}
            where = imported_from(old_env)
            if not where.startswith(str(tree)):
                raise SystemExit(f"the baseline server would import perfbudget from {where}, not the worktree")
            subject = git("log", "-1", "--format=%s", rev)[:70]
            print(f"before: {rev} = {git('rev-parse', '--short', rev)} ({subject}...)")
            print(f"now:    {git('rev-parse', '--short', 'HEAD')} (this checkout)")
            print(f"perfbudget serve, granian, {args.workers} workers; each step adds routes x 5 vitals x 1 device")
            before = measure("before", [sys.executable, "-m", "perfbudget"], old_env, tree, work, steps,
                             args.workers)
        now = measure("now", [sys.executable, "-m", "perfbudget"], clean_env(), ROOT, work, steps, args.workers)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("\n".join(table(before, now)))
    print()
    print("\n".join(targets(now)))
    print()
    print("\n".join(navigation_type_series()))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
