"""Real Chromium (Debian's) driven by Playwright, and a small site on 127.0.0.1 that reports its vitals.

The site is served from its own origin, so beacons to the exporter are cross-origin exactly as on a real
site. It includes the real web-vitals IIFE build from the npm package (installed by scripts/install-test-deps)
and the exporter's /beacon.js; its hero image is a photo-like JPEG (LCP ignores low-entropy images) served
after a delay, and its button's handler blocks the main thread so the click gives a real INP.
"""

from __future__ import annotations

import io
import random
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
WEB_VITALS = ROOT / "node_modules" / "web-vitals" / "dist" / "web-vitals.attribution.iife.js"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic",
]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Demo product</title>
<script src="/js/web-vitals.attribution.iife.js"></script>
<script src="{exporter}/beacon.js"></script>
</head><body>
<h1>Product 42</h1>
<img id="hero" src="/img/hero.jpg" width="1200" height="800" alt="hero">
<button id="buy" type="button">Add to cart</button>
<p id="status">ready</p>
<script>
document.getElementById('buy').addEventListener('click', function () {{
  var until = performance.now() + {block_ms};
  while (performance.now() < until) {{}}
  document.getElementById('status').textContent = 'added';
}});
</script>
</body></html>
"""


def photo_jpeg(width: int = 1200, height: int = 800, seed: int = 7) -> bytes:
    """A noisy, photo-like JPEG: high entropy per pixel, so Chromium counts it as an LCP candidate."""
    rng = random.Random(seed)
    image = Image.effect_noise((width, height), 90).convert("RGB")
    overlay = Image.new("RGB", (width, height), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    image = Image.blend(image, overlay, 0.35)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


@contextmanager
def demo_site(exporter_url: str, hero_delay: float, block_ms: int = 150) -> Iterator[str]:
    """Serve the demo page on a free 127.0.0.1 port; yields its base URL."""
    page = PAGE.format(exporter=exporter_url, block_ms=block_ms).encode()
    hero = photo_jpeg()
    vitals_js = WEB_VITALS.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path.startswith("/products/"):
                self._send(200, "text/html; charset=utf-8", page)
            elif path == "/img/hero.jpg":
                time.sleep(hero_delay)
                self._send(200, "image/jpeg", hero)
            elif path == "/js/web-vitals.attribution.iife.js":
                self._send(200, "text/javascript", vitals_js)
            else:
                self._send(404, "text/plain", b"not found")

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            send_body(self, code, ctype, body)

        def log_message(self, *args: Any) -> None:
            pass

    with loopback_site(Handler) as url:
        yield url


def send_body(handler: BaseHTTPRequestHandler, code: int, ctype: str, body: bytes) -> None:
    """Answer `body` with `code`, never cached (each test's page is its own)."""
    handler.send_response(code)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Cache-Control", "no-store")
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def loopback_site(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on a free 127.0.0.1 port, in a thread; yields the base URL, shuts it down after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright browser on Debian's Chromium (Playwright's own browser download cannot run here)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def visit_and_leave(browser: Any, url: str) -> None:
    """Load the page, wait for the hero, click the button (a real input for INP), then leave the page,
    which hides it: web-vitals reports and beacon.js sends its batch."""
    page = browser.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_function("document.getElementById('hero').complete")
    page.wait_for_timeout(300)
    page.click("#buy")
    page.wait_for_function("document.getElementById('status').textContent === 'added'")
    # web-vitals processes event-timing entries in an idle callback, which headless Chromium runs only at its
    # 1 s timeout; leaving at once loses INP (0 of 10 visits at 300 ms), and at 1.5 s some visits still did
    # (1 in 3 here), so give the page the idle time a real user's page has after a click.
    page.wait_for_timeout(3000)
    page.goto("about:blank")
    page.close()
