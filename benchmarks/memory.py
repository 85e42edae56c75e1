"""Memory against active series: RSS of `perfbudget serve` (master and workers) at 1k, 10k and 50k series.

    .venv/bin/python benchmarks/memory.py [--workers 2]

A series is one (vital, route, device) histogram; each page view below reports all five vitals for a new
route, so N series take N/5 routes (max_routes is raised to fit). It prints, per step, the resident memory of
every process of the server, the size of client_python's multiprocess files, and the /metrics size and
scrape time: figures, no assertions.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from ingest import free_port, run  # noqa: E402  (a sibling script, not a package)

VITALS = (("LCP", 2100), ("FCP", 900), ("TTFB", 300), ("CLS", 0.03), ("INP", 120))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
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


def send_routes(port: int, start: int, stop: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for route in range(start, stop):
        page = f"https://shop.test/section-{route}/"
        body = json.dumps([{"name": n, "value": v, "id": f"r{route}", "pageUrl": page} for n, v in VITALS])
        conn.request("POST", "/api/web-vitals", body, {"Content-Type": "text/plain"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"beacon for route {route} answered {response.status}")
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", default="1000,10000,50000", help="active series to measure at")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    config = work / "perfbudget.yml"
    # Every path is its own route here (no collapsing), and the cap is raised to hold them.
    config.write_text(f"routes:\n  max_routes: {max(steps) // len(VITALS)}\ndata_dir: {work / 'data'}\n")
    multiproc = work / "multiproc"
    env = {"PERFBUDGET_RATE_LIMIT": "off", "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    cmd = [sys.executable, "-m", "perfbudget", "serve", "--config.file", str(config),
           "--web.listen-address", f"127.0.0.1:{port}", "--workers", str(args.workers)]
    print(f"perfbudget serve, {args.workers} workers; each step adds routes x 5 vitals x 1 device")
    print(f"{'series':>8} {'routes':>7} {'RSS total MiB':>14} {'per process MiB':>30} {'mmap files MiB':>15} "
          f"{'/metrics MiB':>13} {'scrape s':>9}")
    with run(cmd, f"http://127.0.0.1:{port}/-/ready", env):
        server_pid = next(int(line.split()[0]) for line in subprocess.run(
            ["ps", "-e", "-o", "pid=,args="], capture_output=True, text=True, check=True).stdout.splitlines()
            if f"127.0.0.1:{port}" in line and "perfbudget" in line and "serve" in line)
        routes_sent = 0
        for series in steps:
            routes = series // len(VITALS)
            send_routes(port, routes_sent, routes)
            routes_sent = routes
            started = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("GET", "/metrics")
            body = conn.getresponse().read()
            scrape = time.perf_counter() - started
            per = [rss_kib(pid) / 1024 for pid in family(server_pid)]
            files = sum(f.stat().st_size for f in multiproc.glob("*.db")) / 2**20
            print(f"{series:>8} {routes:>7} {sum(per):>14.1f} {' '.join(f'{x:.0f}' for x in per):>30} "
                  f"{files:>15.1f} {len(body) / 2**20:>13.1f} {scrape:>9.2f}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
