"""`POST /api/web-vitals` as a plain WSGI callable, dispatched in front of the Flask app.

This is the one endpoint hit on every page view, so it skips Flask's request machinery (which cost two
thirds of the throughput in benchmarks/ingest.py) and does only: origin check, rate limit, bounded body
read, parse, record, a small JSON answer. Every other path and method falls through to Flask. Every refusal,
of a whole beacon or of one report in it, is counted here, by reason.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

import orjson
from limits import RateLimitItem, parse_many, storage, strategies

from ..beacons import BeaconError, parse
from ..config.model import Config
from ..eventlog import sampled_rejections
from ..ingest import Client, Ingestor
from ..metrics import Metrics
from .clients import client_address

PATH = "/api/web-vitals"
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

Headers = list[tuple[str, str]]
#: What the endpoint answers: status code, headers, body (the WSGI entry and server/front.py both send it).
Answer = tuple[int, Headers, bytes]

_JSON = ("Content-Type", "application/json")
_NO_STORE = ("Cache-Control", "no-store")
_PREFLIGHT = (
    ("Access-Control-Allow-Methods", "POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type"),
    ("Access-Control-Max-Age", "86400"),
    ("Content-Length", "0"),
)
_STATUS = {
    200: "200 OK",
    204: "204 No Content",
    400: "400 Bad Request",
    403: "403 Forbidden",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    429: "429 Too Many Requests",
}


class RateLimiter:
    """Per-client-address limits in Flask-Limiter's notation, on the `limits` library it is built on.

    The counters live in each worker's memory, so with N workers a client that spreads its requests over
    all of them can get up to N times the limit; one keep-alive connection stays on one worker.
    """

    def __init__(self, spec: str) -> None:
        self._items: list[RateLimitItem] = [] if spec == "off" else parse_many(spec)
        self._limiter = strategies.FixedWindowRateLimiter(storage.MemoryStorage())

    def retry_after(self, key: str) -> int | None:
        """None when the request may go ahead (and counts it); else seconds until it may retry."""
        for item in self._items:
            if not self._limiter.hit(item, "beacon", key):
                reset = self._limiter.get_window_stats(item, "beacon", key).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None


class BeaconEndpoint:
    def __init__(self, config: Config, ingestor: Ingestor, metrics: Metrics, next_app: WSGIApp) -> None:
        self._ingestor = ingestor
        self._next = next_app
        beacons = config.beacons
        self._max_body = beacons.max_body_bytes
        self._max_batch = beacons.max_batch
        self._any_origin = "*" in beacons.allowed_origins
        self._origins = frozenset(beacons.allowed_origins)
        self._limiter = RateLimiter(beacons.rate_limit)
        self._proxy_hops = config.server.trusted_proxy_hops
        self._size = metrics.beacon_size
        self._codes = {code: metrics.beacon_requests[str(code)] for code in _STATUS}
        self._rejected = sampled_rejections(metrics.rejected, config.logging.rejected_per_minute)  # eventlog
        # http_server_request_duration_seconds: one cached observer per method and status, one call a request.
        self._post_seconds = metrics.http.by_status(PATH, "POST")
        self._preflight_seconds = metrics.http.by_status(PATH, "OPTIONS")

    @staticmethod
    def of(app: object) -> BeaconEndpoint | None:
        """The beacon endpoint installed in front of a Flask app (None for another WSGI application)."""
        found = getattr(app, "wsgi_app", None)
        return found if isinstance(found, BeaconEndpoint) else None

    @property
    def proxy_hops(self) -> int:
        """server.trusted_proxy_hops: how the client's address is read (web/clients.py)."""
        return self._proxy_hops

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self._next(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        if method == "POST":
            client = Client(
                referer=environ.get("HTTP_REFERER"),
                user_agent=environ.get("HTTP_USER_AGENT"),
                ch_ua_mobile=environ.get("HTTP_SEC_CH_UA_MOBILE"),
                address=client_address(environ, self._proxy_hops),
                origin=environ.get("HTTP_ORIGIN"),
            )
            code, headers, body = self.post(client, lambda: self._read_body(environ))
        elif method == "OPTIONS":
            code, headers, body = self.preflight(environ.get("HTTP_ORIGIN"))
        else:
            return self._next(environ, start_response)  # GET is the summary, served by Flask
        start_response(_STATUS[code], headers)
        return [body]

    # --- POST -----------------------------------------------------------------------------------

    def post(self, client: Client, read_body: Callable[[], bytes | None]) -> Answer:
        """The answer to a beacon from `client`; `read_body` gives the body, or None when it is over the cap
        (it is called only once the origin and the rate limit let the request through)."""
        started = perf_counter()
        answer = self._post(client, read_body)
        self._post_seconds[answer[0]](perf_counter() - started)
        return answer

    def _post(self, client: Client, read_body: Callable[[], bytes | None]) -> Answer:
        origin = client.origin
        cors = self._cors_headers(origin)
        if cors is None:
            self._rejected["origin_not_allowed"]()
            return self._answer(403, {"ok": False, "error": f"origin {origin!r} is not allowed"})
        retry = self._limiter.retry_after(client.address or "")
        if retry is not None:
            self._rejected["rate_limited"]()
            return self._answer(
                429, {"ok": False, "error": f"rate limit exceeded; retry in {retry} s"},
                [*cors, ("Retry-After", str(retry))],
            )
        body = read_body()
        if body is None:
            self._rejected["body_too_large"]()
            return self._answer(413, {"ok": False, "error": f"body is over the limit of {self._max_body} bytes"}, cors)
        self._size(len(body))
        try:
            reports, rejections = parse(body, self._max_batch)
        except BeaconError as exc:
            self._rejected[exc.reason]()
            return self._answer(400, {"ok": False, "error": str(exc)}, cors)
        for rejection in rejections:
            self._rejected[rejection.reason]()
        result = self._ingestor.record(reports, client)
        ok = result.accepted > 0 or result.duplicates > 0
        payload = {
            "ok": ok,
            "received": result.accepted,
            "duplicates": result.duplicates,
            "rejected": [r.to_json() for r in rejections],
            "alerts": result.alerts,
        }
        return self._answer(200 if ok else 400, payload, cors)

    def _read_body(self, environ: dict[str, Any]) -> bytes | None:
        """The body, or None when it is over the cap (refused from Content-Length before reading)."""
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        if length:
            try:
                size = int(length)
            except ValueError:
                size = -1
            if size > self._max_body:
                return None
            if size >= 0:
                return bytes(stream.read(size))
        body = bytes(stream.read(self._max_body + 1))  # chunked: read one byte past the cap to know
        return None if len(body) > self._max_body else body

    # --- CORS -----------------------------------------------------------------------------------

    def _cors_headers(self, origin: str | None) -> list[tuple[str, str]] | None:
        """Headers for an allowed (or absent) origin; None when the origin is not on the allowlist."""
        if origin is None:
            return []
        if not (self._any_origin or origin in self._origins):
            return None
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Vary", "Origin"),
        ]

    def preflight(self, origin: str | None) -> Answer:
        """The answer to a CORS preflight from `origin`."""
        started = perf_counter()
        answer = self._preflight(origin)
        self._preflight_seconds[answer[0]](perf_counter() - started)
        return answer

    def _preflight(self, origin: str | None) -> Answer:
        cors = self._cors_headers(origin)
        if cors is None or origin is None:
            return self._answer(403, {"ok": False, "error": f"origin {origin!r} is not allowed"})
        self._codes[204]()
        return 204, [*cors, *_PREFLIGHT], b""

    def _answer(self, code: int, payload: dict[str, Any], headers: list[tuple[str, str]] | None = None) -> Answer:
        """The status code, headers and body of a JSON answer (counted by its status code)."""
        body = orjson.dumps(payload)
        self._codes[code]()
        return code, [_JSON, ("Content-Length", str(len(body))), _NO_STORE, *(headers or ())], body
