"""A single-page shop of our own for the Chromium tests: every path serves app.html, whose router changes
routes with history.pushState; `shift(px)` makes a layout shift and #slow blocks the main thread 150 ms.

    with spa_site(exporter_url, 'data-soft-navs') as site:  # the attributes of its beacon.js script tag
        page.goto(f"{site}/products/red-shoes")

`collector()` is a beacon endpoint that keeps each request's body and headers as Chromium sent them, for
the checks on the wire itself (what the exporter keeps is cleaned again on its side, so it cannot show
what left the browser; Playwright and CDP do not see beacons sent while a page unloads).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import orjson

from ..browser import WEB_VITALS, loopback_site, send_body

HERE = Path(__file__).resolve().parent


@contextmanager
def spa_site(exporter_url: str, beacon_attributes: str = "") -> Iterator[str]:
    """Serve the app on a free 127.0.0.1 port (its own origin, so beacons are cross-origin); yields its URL."""
    page = (HERE / "app.html").read_text().replace("{exporter}", exporter_url).replace(
        "{beacon_attributes}", beacon_attributes).encode()
    vitals_js = WEB_VITALS.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/js/web-vitals.attribution.iife.js":
                self._send("text/javascript", vitals_js)
            elif self.path == "/favicon.ico":
                self.send_error(404)
            else:
                self._send("text/html; charset=utf-8", page)

        def _send(self, ctype: str, body: bytes) -> None:
            send_body(self, 200, ctype, body)

        def log_message(self, *args: Any) -> None:
            pass

    with loopback_site(Handler) as url:
        yield url


@dataclass
class Received:
    body: list[dict[str, Any]]
    headers: dict[str, str]


@contextmanager
def collector() -> Iterator[tuple[str, list[Received]]]:
    """A CORS beacon endpoint on a free 127.0.0.1 port; yields (its URL, the requests received so far)."""
    received: list[Received] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_OPTIONS(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                received.append(Received(orjson.loads(body), {k.lower(): v for k, v in self.headers.items()}))
            self._answer()

        def _answer(self) -> None:
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with loopback_site(Handler) as url:
        yield f"{url}/api/web-vitals", received
