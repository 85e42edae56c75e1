"""Latency of healthy requests while slow clients hold connections open, and how long the server keeps them.

    .venv/bin/python benchmarks/slow_clients.py [--workers 2] [--threads 5] [--slow 0] [--server granian]

Starts `perfbudget serve` on a free 127.0.0.1 port, opens `--slow` connections (default 4 x workers x
threads) that each send `POST /api/web-vitals` with `Content-Length: 60000` and then one byte every 0.5 s,
and, while they trickle, times healthy requests (`GET /-/healthy`, a beacon, `GET /metrics`), each on a
new connection with a 10 s timeout. Then it reports how long the server kept a slow client and a client that
sent its headers and no body (up to `--hold` seconds), and what it answered them. It prints figures and
asserts nothing (tests/integration/test_body_deadlines.py checks the behaviour).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import free_port, wait_up

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BEACON = json.dumps([{"name": "LCP", "value": 1200, "delta": 1200, "id": "v1-bench", "rating": "good",
                      "navigationType": "navigate", "pageUrl": "http://shop.test/"}]).encode()


class Trickler(threading.Thread):
    """One slow client: headers, then a byte every `interval` s (or nothing at all with interval 0)."""

    def __init__(self, port: int, stop: threading.Event, interval: float = 0.5, hold: float = 40.0) -> None:
        super().__init__(daemon=True)
        self.port, self.stop, self.interval, self.hold = port, stop, interval, hold
        self.held: float | None = None  # seconds until the server answered or closed
        self.answer = ""

    def run(self) -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=self.hold) as sock:
            sock.sendall(b"POST /api/web-vitals HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: 60000\r\n\r\n")
            sock.settimeout(self.interval or self.hold)
            while not self.stop.is_set() and time.monotonic() - started < self.hold:
                try:
                    data = sock.recv(4096)
                except TimeoutError:
                    data = None
                except OSError:
                    data = b""
                if data is not None:
                    self.held = time.monotonic() - started
                    self.answer = data.split(b"\r\n", 1)[0].decode(errors="replace") or "(closed)"
                    return
                if self.interval:
                    try:
                        sock.sendall(b"x")
                    except OSError:
                        self.held, self.answer = time.monotonic() - started, "(closed)"
                        return


def timed(method: str, url: str, body: bytes | None = None) -> float | None:
    """Seconds to a complete answer on a new connection, or None on a timeout or a refused connection."""
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "text/plain"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        exc.read()
    except (OSError, TimeoutError):
        return None
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2 * (os.cpu_count() or 2) + 1)
    parser.add_argument("--slow", type=int, default=0, help="slow clients (default 4 x workers x threads)")
    parser.add_argument("--server", default="granian")
    parser.add_argument("--requests", type=int, default=10, help="healthy requests of each kind")
    parser.add_argument("--hold", type=float, default=40.0, help="longest wait for the server to drop a client")
    args = parser.parse_args()
    slow = args.slow or 4 * args.workers * args.threads
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bench-slow-"))
    config = tmp / "perfbudget.yml"
    config.write_text(json.dumps({"server": {"threads": args.threads}, "data_dir": str(tmp / "data")}))
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PY, "-m", "perfbudget", "serve", "--config.file", str(config), "--web.listen-address",
             f"127.0.0.1:{port}", "--workers", str(args.workers), "--server", args.server],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PERFBUDGET_RATE_LIMIT": "off"})
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    try:
        try:
            wait_up(f"{base}/-/ready", proc)
        except RuntimeError:
            print(log.read_text(errors="replace"), file=sys.stderr)
            raise
        quiet = {kind: [timed(*request) for _ in range(args.requests)] for kind, request in _requests(base).items()}
        tricklers = [Trickler(port, stop, hold=args.hold) for _ in range(slow)]
        idler = Trickler(port, stop, interval=0, hold=args.hold)
        for client in [*tricklers, idler]:
            client.start()
        time.sleep(2.0)  # every slow client is mid-body
        loaded = {kind: [timed(*request) for _ in range(args.requests)] for kind, request in _requests(base).items()}
        for client in [*tricklers, idler]:
            client.join(args.hold + 5)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(30)
    print(f"{args.server}, {args.workers} workers x {args.threads} threads, {slow} slow clients "
          f"(Content-Length 60000, one byte every 0.5 s); {args.requests} requests of each kind, 10 s timeout")
    print(f"{'request':16} {'alone p50':>10} {'max':>8}   {'with slow clients p50':>22} {'max':>8} {'failed':>7}")
    for kind in quiet:
        print(f"{kind:16} {_ms(quiet[kind], statistics.median):>10} {_ms(quiet[kind], max):>8}   "
              f"{_ms(loaded[kind], statistics.median):>22} {_ms(loaded[kind], max):>8} "
              f"{sum(t is None for t in loaded[kind]):>4}/{len(loaded[kind])}")
    held = [c.held for c in tricklers if c.held is not None]
    answers = sorted({c.answer for c in tricklers if c.answer})
    print(f"slow clients dropped: {len(held)}/{slow}, after {min(held, default=0):.1f}-{max(held, default=0):.1f} s "
          f"({', '.join(answers) or 'none'}); still held after {args.hold:g} s: {slow - len(held)}")
    print("headers, no body: " + (f"closed after {idler.held:.1f} s ({idler.answer})" if idler.held is not None
                                  else f"still held after {args.hold:g} s"))
    return 0


def _requests(base: str) -> dict[str, tuple[str, str] | tuple[str, str, bytes]]:
    return {"GET /-/healthy": ("GET", f"{base}/-/healthy"), "POST beacon": ("POST", f"{base}/api/web-vitals", BEACON),
            "GET /metrics": ("GET", f"{base}/metrics")}


def _ms(values: list[float | None], how: object) -> str:
    done = [v for v in values if v is not None]
    if not done:
        return "-"
    return f"{how(done) * 1000:.0f} ms"  # type: ignore[operator]


if __name__ == "__main__":
    sys.exit(main())
