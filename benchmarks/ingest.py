"""Ingest throughput and latency: perfbudget's beacon endpoint against the framework floor, in one run.

    .venv/bin/python benchmarks/ingest.py [--duration 10] [--servers granian,gunicorn,gunicorn-gthread] [--otlp]

For each production server it starts, one after the other on free 127.0.0.1 ports with 2 workers:
  * the floor: the same server serving benchmarks/floor_app.py (read the body, answer 204);
  * perfbudget: `perfbudget serve` with the rate limit off (one load generator is one client address).
`wrk -t2 -c32` with benchmarks/beacon.lua (one page view = one batched beacon of five vitals with
attribution, fresh ids per request) measures the maximum; then `hey` at half of perfbudget's maximum
measures latency at a fixed offered load. It prints figures side by side; it asserts nothing.
Needs Debian's wrk and hey (scripts/install-test-deps installs both).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
SERVERS = ("granian", "gunicorn", "gunicorn-gthread")


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int = 0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.2)
    raise TimeoutError(url)


@contextmanager
def run(args: list[str], health: str, env: dict[str, str] | None = None) -> Iterator[None]:
    log = Path(tempfile.mkstemp(prefix="bench-server-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                cwd=ROOT)
    try:
        wait_up(health, proc)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def floor_command(server: str, port: int, workers: int) -> list[str]:
    if server == "granian":
        return [PY, "-m", "granian", "--interface", "wsgi", "--workers", str(workers), "--blocking-threads", "1",
                "--backlog", "2048", "--host", "127.0.0.1", "--port", str(port), "--no-log",
                "benchmarks.floor_app:application"]
    worker_class = "gthread" if server == "gunicorn-gthread" else "sync"
    return [PY, "-m", "gunicorn", "-w", str(workers), "-k", worker_class, "-b", f"127.0.0.1:{port}",
            "benchmarks.floor_app:application"]


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNIT[match.group(2)]


def wrk(url: str, duration: int) -> Result:
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency", "-s", str(HERE / "beacon.lua"), url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(rps, p50, p99, int(errors.group(1)) if errors else 0)


def hey(url: str, rate: float, duration: int, body: Path) -> Result:
    """Latency at a fixed offered load: 32 connections, each limited to rate/32 requests per second."""
    per_conn = max(1, round(rate / 32))
    out = subprocess.run(
        ["hey", "-z", f"{duration}s", "-c", "32", "-q", str(per_conn), "-m", "POST", "-T",
         "text/plain;charset=UTF-8", "-D", str(body), url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"50% in ([\d.]+) secs", out).group(1)) * 1000  # type: ignore[union-attr]
    p99 = float(re.search(r"99% in ([\d.]+) secs", out).group(1)) * 1000  # type: ignore[union-attr]
    return Result(rps, p50, p99)


def sample_body() -> bytes:
    """One page view's beacon, as in beacon.lua (hey repeats one body; dedup counts repeats as duplicates,
    which costs the same table lookup as a new pair)."""
    lua = (HERE / "beacon.lua").read_text()
    template = re.search(r"\[=\[(.*)\]=\]", lua, re.S).group(1)  # type: ignore[union-attr]
    return (template.replace("%d", "1")).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk/hey run")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated: " + ", ".join(SERVERS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--otlp", action="store_true",
                        help="also run perfbudget with OTLP on, pushing to a real OTLP receiver on 127.0.0.1")
    args = parser.parse_args()
    for tool in ("wrk", "hey"):
        if not shutil.which(tool):
            print(f"{tool} is not installed: run scripts/install-test-deps", file=sys.stderr)
            return 2
    body_file = Path(tempfile.mkstemp(suffix=".json")[1])
    body_file.write_bytes(sample_body())
    rows: list[tuple[str, str, Result, Result | None, float | None]] = []
    print(f"machine: {os.cpu_count()} cores; wrk -t2 -c32 -d{args.duration}s; {args.workers} workers; "
          f"one request = one page view (5 vitals with attribution, {len(sample_body())} bytes)", flush=True)
    for server in args.servers.split(","):
        port = free_port()
        with run(floor_command(server, port, args.workers), f"http://127.0.0.1:{port}/"):
            floor = wrk(f"http://127.0.0.1:{port}/api/web-vitals", args.duration)
        rows.append((server, "floor (read body, 204)", floor, None, None))
        print(f"  {server:17} floor       {floor.rps:9.0f} req/s", flush=True)
        variants = [("perfbudget, OTLP off", {})]
        if args.otlp:
            variants.append(("perfbudget, OTLP on", {"OTEL_EXPORTER_OTLP_ENDPOINT": "__receiver__"}))
        for label, env in variants:
            with _otlp_receiver(env) as env2:
                port = free_port()
                data = tempfile.mkdtemp(prefix="bench-data-")
                cmd = [PY, "-m", "perfbudget", "serve", "--web.listen-address", f"127.0.0.1:{port}",
                       "--workers", str(args.workers), "--server", server]
                with run(cmd, f"http://127.0.0.1:{port}/-/ready",
                         {"PERFBUDGET_RATE_LIMIT": "off", "PERFBUDGET_DATA_DIR": data, **env2}):
                    url = f"http://127.0.0.1:{port}/api/web-vitals"
                    top = wrk(url, args.duration)
                    fixed = hey(url, top.rps / 2, args.duration, body_file)
                shutil.rmtree(data, ignore_errors=True)
            rows.append((server, label, top, fixed, top.rps / floor.rps))
            print(f"  {server:17} {label:22} {top.rps:9.0f} page views/s", flush=True)

    print()
    print(f"{'server':18} {'handler':24} {'page views/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'of floor':>9} "
          f"{'@half load':>11} {'p50 ms':>8} {'p99 ms':>8}")
    for server, label, top, fixed, ratio in rows:
        line = f"{server:18} {label:24} {top.rps:12.0f} {top.p50_ms:8.2f} {top.p99_ms:8.2f} "
        line += f"{ratio:9.0%} " if ratio is not None else f"{'':9} "
        if fixed is not None:
            line += f"{fixed.rps:11.0f} {fixed.p50_ms:8.2f} {fixed.p99_ms:8.2f}"
        if top.errors:
            line += f"  ({top.errors} non-2xx)"
        print(line)
    return 0


@contextmanager
def _otlp_receiver(env: dict[str, str]) -> Iterator[dict[str, str]]:
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") != "__receiver__":
        yield env
        return
    sys.path.insert(0, str(ROOT))
    from tests.integration.otlp_receiver import OtlpReceiver  # type: ignore[import-not-found]

    with OtlpReceiver() as receiver:
        yield {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.grpc_endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
               "OTEL_METRIC_EXPORT_INTERVAL": "5000"}


if __name__ == "__main__":
    sys.exit(main())
