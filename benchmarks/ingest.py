"""Ingest throughput and latency: perfbudget's beacon endpoint against the framework floor, in one run.

    .venv/bin/python benchmarks/ingest.py [--duration 10] [--servers granian,gunicorn,gunicorn-gthread] [--otlp]
                                          [--peer PATH] [--baseline REV]

For each production server it starts, one after the other on free 127.0.0.1 ports with 2 workers:
  * the floor: the same server serving benchmarks/floor_app.py (read the body, answer 204); for granian also
    the RSGI floor, the same on the RSGI interface `perfbudget serve` uses (what the interface costs);
  * perfbudget: `perfbudget serve` with the rate limit off (one load generator is one client address).
`wrk -t2 -c32` with benchmarks/beacon.lua (one page view = one batched beacon of five vitals with
attribution, fresh ids per request) measures the maximum; then `hey` at half of perfbudget's maximum
measures latency at a fixed offered load. It prints figures side by side; it asserts nothing.
--baseline REV also runs `perfbudget serve` from a git worktree of REV (PYTHONPATH=<worktree>/exporter, this
virtualenv's dependencies), one after the other in the same run, for before/after figures.
Needs Debian's wrk and hey (scripts/install-test-deps installs both).

--peer PATH also runs the Go peer, jensteichert/webvitals_exporter, in the same run: it takes one metric
object per `POST /vitals` (benchmarks/peer.lua sends five requests per page view) and records summaries
without validation, so its page views/s are its requests/s / 5. It is never part of this repository; build
it by hand outside it, offline, from its public GitHub source and Debian's packages:

    apt-get install golang-go golang-github-prometheus-client-golang-dev
    mkdir -p /tmp/peer/src/github.com/jensteichert
    git clone <its source> /tmp/peer/src/github.com/jensteichert/webvitals_exporter
    cd /tmp/peer/src/github.com/jensteichert/webvitals_exporter
    GO111MODULE=off GOPATH=/tmp/peer:/usr/share/gocode go build -o /tmp/peer/webvitals_exporter ./cmd

(its go.mod asks for an older client_golang; it compiles unchanged against Debian's). It listens on :2113,
a port it hard-codes: the benchmark refuses to start it when that port is taken.
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
    cpu_us: float | None = None  # server CPU (user + system, every process) per request


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants: load on the machine does not change it much,
    so it compares servers more fairly than requests/s on a busy machine."""
    total = 0
    for member in _descendants(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


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
def run(args: list[str], health: str, env: dict[str, str] | None = None, *, cwd: Path = ROOT,
        log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A server process until the block ends; its output goes to `log` (a temporary file by default) and is
    printed when the block fails."""
    log = log or Path(tempfile.mkstemp(prefix="bench-server-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                cwd=cwd)
    try:
        wait_up(health, proc)
        yield proc
    except BaseException:
        print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def floor_command(server: str, port: int, workers: int, rsgi: bool = False) -> list[str]:
    if server == "granian":
        interface = ["--interface", "rsgi"] if rsgi else ["--interface", "wsgi", "--blocking-threads", "1"]
        app = "benchmarks.floor_app:rsgi_application" if rsgi else "benchmarks.floor_app:application"
        return [PY, "-m", "granian", *interface, "--workers", str(workers),
                "--backlog", "2048", "--host", "127.0.0.1", "--port", str(port), "--no-log", app]
    worker_class = "gthread" if server == "gunicorn-gthread" else "sync"
    return [PY, "-m", "gunicorn", "-w", str(workers), "-k", worker_class, "-b", f"127.0.0.1:{port}",
            "benchmarks.floor_app:application"]


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNIT[match.group(2)]


def wrk(url: str, duration: int, server: subprocess.Popen[bytes] | None = None,
        script: Path = HERE / "beacon.lua") -> Result:
    before = cpu_seconds(server.pid) if server is not None else 0.0
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    cpu = (cpu_seconds(server.pid) - before) / requests * 1e6 if server is not None and requests else None
    return Result(rps, p50, p99, int(errors.group(1)) if errors else 0, cpu)


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
    parser.add_argument("--peer", type=Path, metavar="PATH",
                        help="the Go peer's binary (built by hand: see above), run beside perfbudget")
    parser.add_argument("--wsgi", action="store_true",
                        help="also run perfbudget's WSGI app on granian's WSGI interface, as before the body-deadline "
                             "front (no deadline: slow clients hold threads), to show what the front costs")
    parser.add_argument("--baseline", metavar="REV",
                        help="also run perfbudget as it was at git revision REV (a worktree), in the same run")
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
        with run(floor_command(server, port, args.workers), f"http://127.0.0.1:{port}/") as proc:
            floor = wrk(f"http://127.0.0.1:{port}/api/web-vitals", args.duration, proc)
        rows.append((server, "floor (read body, 204)", floor, None, None))
        print(f"  {server:17} floor       {floor.rps:9.0f} req/s", flush=True)
        if server == "granian":
            port = free_port()
            with run(floor_command(server, port, args.workers, rsgi=True), f"http://127.0.0.1:{port}/") as proc:
                rsgi_floor = wrk(f"http://127.0.0.1:{port}/api/web-vitals", args.duration, proc)
            rows.append((server, "floor, RSGI interface", rsgi_floor, None, rsgi_floor.rps / floor.rps))
            print(f"  {server:17} floor, RSGI {rsgi_floor.rps:9.0f} req/s", flush=True)
        variants: list[tuple[str, dict[str, str], Path | None]] = [("perfbudget, OTLP off", {}, None)]
        if args.otlp:
            variants.append(("perfbudget, OTLP on", {"OTEL_EXPORTER_OTLP_ENDPOINT": "__receiver__"}, None))
        with _baseline(args.baseline) as tree:
            if tree is not None:
                variants.insert(0, (f"perfbudget at {args.baseline}"[:24], {}, tree))
            for label, env, source in variants:
                top, fixed = _perfbudget(server, args.workers, args.duration, body_file, env, source)
                rows.append((server, label, top, fixed, top.rps / floor.rps))
                print(f"  {server:17} {label:22} {top.rps:9.0f} page views/s", flush=True)
        if args.wsgi and server == "granian":
            top = wsgi_interface(args.workers, args.duration)
            rows.append((server, "perfbudget, WSGI, no front", top, None, top.rps / floor.rps))
            print(f"  {server:17} {'WSGI, no front':22} {top.rps:9.0f} page views/s", flush=True)

    peer: Result | None = None
    if args.peer is not None:
        peer = run_peer(args.peer, args.duration)
        per_view = None if peer.cpu_us is None else peer.cpu_us * 5
        rows.append(("go net/http", "webvitals_exporter",
                     Result(peer.rps / 5, peer.p50_ms, peer.p99_ms, peer.errors, per_view), None, None))
        print(f"  go peer           {peer.rps:9.0f} req/s = {peer.rps / 5:.0f} page views/s", flush=True)

    print()
    print(f"{'server':18} {'handler':24} {'page views/s':>12} {'CPU us/view':>11} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'of floor':>9} {'@half load':>11} {'p50 ms':>8} {'p99 ms':>8}")
    for server, label, top, fixed, ratio in rows:
        cpu = f"{top.cpu_us:11.0f}" if top.cpu_us is not None else f"{'':11}"
        line = f"{server:18} {label:24} {top.rps:12.0f} {cpu} {top.p50_ms:8.2f} {top.p99_ms:8.2f} "
        line += f"{ratio:9.0%} " if ratio is not None else f"{'':9} "
        if fixed is not None:
            line += f"{fixed.rps:11.0f} {fixed.p50_ms:8.2f} {fixed.p99_ms:8.2f}"
        if top.errors:
            line += f"  ({top.errors} non-2xx)"
        print(line)
    if peer is not None:
        best = max(top.rps for server, label, top, _, _ in rows if label.startswith("perfbudget"))
        print(f"\nperfbudget's best / the Go peer, page views/s: {best:.0f} / {peer.rps / 5:.0f} = "
              f"{best / (peer.rps / 5):.2f}x")
    if "granian" in args.servers.split(","):
        print()
        print("\n".join(targets(rows, peer, args.baseline)))
    return 0


def targets(rows: list[tuple[str, str, Result, Result | None, float | None]], peer: Result | None,
            baseline: str | None) -> list[str]:
    """Issue 16's throughput targets, on granian, for the baseline (when run) and now, from this run's rows."""
    on_granian = {label: top for server, label, top, _, _ in rows if server == "granian"}
    floor, now = on_granian["floor (read body, 204)"], on_granian["perfbudget, OTLP off"]
    rsgi = on_granian.get("floor, RSGI interface")
    columns = [("now", now)]
    if baseline is not None:
        columns.insert(0, (f"at {baseline}", on_granian[f"perfbudget at {baseline}"[:24]]))
    header = f"{'issue 16 target (granian, 2 workers)':44} {'target':>9}" + "".join(f" {n:>14}" for n, _ in columns)
    lines = [header]
    if peer is not None:
        peer_views = peer.rps / 5
        lines.append(f"{'page views/s against the Go peer':44} {'>= 2x':>9}"
                     + "".join(f" {top.rps / peer_views:13.2f}x" for _, top in columns))
    lines.append(f"{'share of the floor (WSGI, read body, 204)':44} {'>= 60 %':>9}"
                 + "".join(f" {top.rps / floor.rps:13.0%} " for _, top in columns))
    if rsgi is not None:
        lines.append(f"{'share of the RSGI floor (the interface served)':44} {'':>9}"
                     + "".join(f" {top.rps / rsgi.rps:13.0%} " for _, top in columns))
    lines.append(f"{'server CPU per page view, µs':44} {'':>9}"
                 + "".join(f" {top.cpu_us or 0:14.0f}" for _, top in columns))
    if peer is not None and peer.cpu_us is not None:
        lines.append(f"{'  the Go peer: CPU per page view, µs':44} {'':>9} {peer.cpu_us * 5:14.0f}")
    if rsgi is not None and rsgi.cpu_us is not None:
        lines.append(f"{'  the RSGI floor: CPU per request, µs':44} {'':>9} {rsgi.cpu_us:14.0f}")
    return lines


def _perfbudget(server: str, workers: int, duration: int, body_file: Path, env: dict[str, str],
                source: Path | None) -> tuple[Result, Result]:
    """`perfbudget serve` under wrk, then hey at half its maximum; from the worktree `source` when given."""
    with _otlp_receiver(env) as env2:
        port = free_port()
        data = tempfile.mkdtemp(prefix="bench-data-")
        cmd = [PY, "-m", "perfbudget", "serve", "--web.listen-address", f"127.0.0.1:{port}",
               "--workers", str(workers), "--server", server]
        extra = {"PERFBUDGET_RATE_LIMIT": "off", "PERFBUDGET_DATA_DIR": data, **env2}
        if source is not None:
            extra["PYTHONPATH"] = str(source / "exporter")
        with run(cmd, f"http://127.0.0.1:{port}/-/ready", extra, cwd=source or ROOT) as proc:
            url = f"http://127.0.0.1:{port}/api/web-vitals"
            top = wrk(url, duration, proc)
            fixed = hey(url, top.rps / 2, duration, body_file)
        shutil.rmtree(data, ignore_errors=True)
    return top, fixed


@contextmanager
def _baseline(rev: str | None) -> Iterator[Path | None]:
    """A git worktree of `rev` for the length of the block (None without a revision)."""
    if rev is None:
        yield None
        return
    from memory import imported_from, worktree  # benchmarks/memory.py: the same worktree, checked the same way

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        with worktree(rev, work) as tree:
            where = imported_from({**os.environ, "PYTHONPATH": str(tree / "exporter")})
            if not where.startswith(str(tree)):
                raise SystemExit(f"the baseline server would import perfbudget from {where}, not the worktree")
            yield tree
    finally:
        shutil.rmtree(work, ignore_errors=True)


def wsgi_interface(workers: int, duration: int) -> Result:
    """perfbudget's WSGI app straight on granian's WSGI interface (what `perfbudget serve` ran before the
    body-deadline front): the same work per beacon, without the RSGI front."""
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="bench-data-"))
    config = data / "perfbudget.yml"
    config.write_text(f"data_dir: {data}\nbeacons:\n  rate_limit: 'off'\n")
    cmd = [PY, "-m", "granian", "--interface", "wsgi", "--workers", str(workers), "--blocking-threads", "1",
           "--backlog", "2048", "--host", "127.0.0.1", "--port", str(port), "--no-log",
           "perfbudget.server.wsgi:application"]
    with run(cmd, f"http://127.0.0.1:{port}/-/ready", {"PERFBUDGET_CONFIG": str(config)}) as proc:
        result = wrk(f"http://127.0.0.1:{port}/api/web-vitals", duration, proc)
    shutil.rmtree(data, ignore_errors=True)
    return result


PEER_PORT = 2113


def run_peer(binary: Path, duration: int) -> Result:
    """The Go peer under wrk with benchmarks/peer.lua; its requests/s (one metric each)."""
    import socket

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", PEER_PORT)) == 0:
            raise SystemExit(f"port {PEER_PORT} is taken: the Go peer hard-codes it")
    with run([str(binary)], f"http://127.0.0.1:{PEER_PORT}/metrics") as proc:
        return wrk(f"http://127.0.0.1:{PEER_PORT}/vitals", duration, proc, HERE / "peer.lua")


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
