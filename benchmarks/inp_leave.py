"""INP on a quick leave: how many visits report INP when the user leaves soon after a slow click.

    .venv/bin/python benchmarks/inp_leave.py [--visits 10] [--delays 0.3,1.2,3] [--block-ms 150]

Real headless Chromium (Debian's, through Playwright), the real web-vitals attribution build and two
reporters on the same page: the library's documented default (`onINP(callback)`, sent at the hide) and
perfbudget's beacon.js (as /beacon.js serves it). Each visit loads the page, clicks a button whose handler
blocks the main thread for --block-ms, waits the delay and leaves (navigates away, which hides the page).
A small collector on 127.0.0.1 receives the beacons. Per delay and reporter it prints how many visits
reported INP, and for beacon.js how many sent the `inpMissing` signal instead (the page saw an interaction
and had no INP by the end of its hide; the exporter counts those in perfbudget_inp_missing_total).

Headless Chromium runs idle callbacks only at their 1 s timeout (it never has an idle period on its own),
and web-vitals processes event-timing entries in an idle callback: a leave under 1 s after the click
races it. A real browser runs that callback in the first idle period after the next frame, usually within
a few tens of milliseconds, so there the 0.3 s figure of the default reporter overstates the loss.
Figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from perfbudget.web.ops import beacon_script

ROOT = Path(__file__).resolve().parents[1]
WEB_VITALS = ROOT / "node_modules" / "web-vitals" / "dist" / "web-vitals.attribution.iife.js"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]

# One reporter per page: the library's default use, or beacon.js (which sends to data-endpoint).
DEFAULT_REPORTER = """<script>
function send(m) {{
  navigator.sendBeacon('/collect?visit={visit}', JSON.stringify([{{name: m.name, id: m.id}}]));
}}
webVitals.onINP(send);
webVitals.onCLS(send);
</script>"""
BEACON_REPORTER = '<script src="/beacon.js" data-endpoint="/collect?visit={visit}"></script>'
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>INP on a quick leave</title>
<script src="/web-vitals.js"></script>
{reporter}
</head><body>
<h1>Checkout</h1><p>A paragraph of text, so the page has a first contentful paint.</p>
<button id="slow" type="button">Pay</button><p id="status">ready</p>
<script>
document.getElementById('slow').addEventListener('click', function () {{
  var until = performance.now() + {block_ms};
  while (performance.now() < until) {{}}
  document.getElementById('status').textContent = 'paid';
}});
</script>
</body></html>
"""


@contextmanager
def site(block_ms: int) -> Iterator[tuple[str, dict[str, list[dict[str, Any]]]]]:
    """The page (/default/<visit>, /beacon/<visit>), the scripts and the collector; yields (base URL, beacons
    received per visit)."""
    received: dict[str, list[dict[str, Any]]] = {}
    lock = threading.Lock()
    vitals_js = WEB_VITALS.read_bytes()
    beacon_js = beacon_script(1.0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.split("/")
            if self.path == "/web-vitals.js":
                self._send("text/javascript", vitals_js)
            elif self.path == "/beacon.js":
                self._send("text/javascript", beacon_js)
            elif len(parts) == 3 and parts[1] in ("default", "beacon"):
                reporter = (DEFAULT_REPORTER if parts[1] == "default" else BEACON_REPORTER).format(visit=parts[2])
                self._send("text/html; charset=utf-8", PAGE.format(reporter=reporter, block_ms=block_ms).encode())
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            visit = self.path.partition("visit=")[2]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                received.setdefault(visit, []).extend(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def _send(self, ctype: str, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def visit(browser: Any, url: str, delay: float) -> None:
    """Load, click the slow button, wait `delay` seconds after the click's handler has run, leave."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    page.click("#slow")
    page.wait_for_function("document.getElementById('status').textContent === 'paid'")
    page.wait_for_timeout(int(delay * 1000))
    page.goto("about:blank")
    page.wait_for_timeout(200)  # the beacons of the hide leave before the context closes
    context.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=10, help="visits per delay and reporter")
    parser.add_argument("--delays", default="0.3,1.2,3", help="seconds from the click to the leave")
    parser.add_argument("--block-ms", type=int, default=150, help="how long the click handler blocks")
    args = parser.parse_args(argv)
    delays = [float(d) for d in args.delays.split(",")]
    from playwright.sync_api import sync_playwright

    rows = []
    with site(args.block_ms) as (base, received), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                             headless=True, args=ARGS)
        version = browser.version
        try:
            for delay in delays:
                for reporter in ("default", "beacon"):
                    names = [f"{reporter}-{delay}-{n}" for n in range(args.visits)]
                    for name in names:
                        visit(browser, f"{base}/{reporter}/{name}", delay)
                    inp = sum(any(r.get("name") == "INP" for r in received.get(n, [])) for n in names)
                    missing = sum(any(r.get("inpMissing") is True for r in received.get(n, [])) for n in names)
                    cls = sum(any(r.get("name") == "CLS" for r in received.get(n, [])) for n in names)
                    rows.append((delay, reporter, inp, missing, cls))
        finally:
            browser.close()
    print(f"INP on a quick leave: {args.visits} visits per row, click handler blocking {args.block_ms} ms, "
          f"headless Chromium {version}")
    print(f"{'leave after':>11}  {'reporter':<28} {'INP reported':>12} {'inpMissing sent':>15} {'CLS (page hid)':>14}")
    labels = {"default": "web-vitals onINP (default)", "beacon": "beacon.js"}
    for delay, reporter, inp, missing, cls in rows:
        signal = f"{missing}/{args.visits}" if reporter == "beacon" else "-"
        print(f"{delay:>10.1f}s  {labels[reporter]:<28} {f'{inp}/{args.visits}':>12} {signal:>15} "
              f"{f'{cls}/{args.visits}':>14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
