"""The asynchronous front granian serves (its RSGI interface): every request body is read whole, within a
deadline and under a cap, before the WSGI application sees the request.

A WSGI server hands the application a blocking body stream, so a client that trickles its body holds a
worker thread for as long as it likes, and a few dozen of them hold every thread. Here the event loop reads
bodies without holding any thread; only complete requests reach the application: the beacon endpoint runs
on the loop itself (microseconds of CPU, no I/O), everything else in a small thread pool, so a slow
`/metrics` scrape or a playbook preview never stalls the loop.

A body not complete within `server.body_timeout` (give or take half a second) gets a 408 and its connection
is closed. A body over its cap is not read further: the beacon endpoint refuses it itself (it counts its
refusals, with CORS headers), any other endpoint gets a 413 JSON answer from here. Clients that never finish
their headers, and idle keep-alive connections, are closed by granian's header read timeout, set to the same
deadline.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter
from typing import Any, Protocol

import orjson

from ..http_metrics import FlaskTiming
from ..ingest import Client
from ..web.beacons import PATH as BEACON_PATH
from ..web.beacons import BeaconEndpoint
from ..web.clients import forwarded_client

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Headers = list[tuple[str, str]]
#: What the application answered: status code, headers, the whole body.
Answer = tuple[int, Headers, bytes]


class Scope(Protocol):
    """What the front reads of granian's RSGI scope."""

    proto: str
    http_version: str
    client: str
    server: str
    scheme: str
    method: str
    path: str
    query_string: str

    @property
    def headers(self) -> Any: ...


class HTTPProtocol(Protocol):
    """What the front uses of granian's RSGI HTTP protocol object."""

    def __aiter__(self) -> Any: ...

    async def __call__(self) -> bytes: ...

    def response_bytes(self, status: int, headers: Headers, body: bytes) -> None: ...


_BASE_ENVIRON: dict[str, Any] = {
    "SCRIPT_NAME": "",
    "wsgi.version": (1, 0),
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": True,
    "wsgi.multiprocess": True,
    "wsgi.run_once": False,
    # The body is complete and its length known: werkzeug may read to the end.
    "wsgi.input_terminated": True,
}
_CLOSE = ("connection", "close")
_JSON = ("content-type", "application/json")
# Joined as RFC 9110 says; a Cookie header is the one list that uses "; " instead (RFC 6265).
_SEPARATOR = {"HTTP_COOKIE": "; "}


class _Refused(bytes):
    """The body of an answer given here, not by the application (so the front records its duration)."""


def _refusal(status: int, message: str) -> Answer:
    body = _Refused(orjson.dumps({"ok": False, "error": message}))
    return status, [_JSON, ("cache-control", "no-store"), _CLOSE], body


class _Start:
    """WSGI's start_response, keeping what the application answered."""

    __slots__ = ("headers", "status")

    def __init__(self) -> None:
        self.status = 500
        self.headers: Headers = []

    def __call__(self, status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], None]:
        self.status = int(status.split(" ", 1)[0])
        self.headers = headers
        return self._write

    @staticmethod
    def _write(_data: bytes) -> None:
        raise NotImplementedError("the write() callable of start_response is not supported")


def call_wsgi(app: WSGIApp, environ: dict[str, Any]) -> Answer:
    """Run a WSGI application on one complete request and collect its whole answer."""
    start = _Start()
    result = app(environ, start)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return start.status, start.headers, body


def environ_for(scope: Scope, body: bytes, length: int) -> dict[str, Any]:
    """PEP 3333's environ for a request whose body has been read (`length`: its size, or more when the read
    stopped at the cap)."""
    host, _, port = scope.server.rpartition(":")
    remote, _, remote_port = scope.client.rpartition(":")
    environ = dict(_BASE_ENVIRON)
    environ.update({
        "REQUEST_METHOD": scope.method,
        # WSGI's strings are bytes decoded as latin-1; granian decodes the path as UTF-8.
        "PATH_INFO": scope.path.encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": host.strip("[]"),
        "SERVER_PORT": port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": remote.strip("[]"),
        "REMOTE_PORT": remote_port,
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
    })
    for name, value in scope.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue  # replaced by the length of the body actually read
        if key != "CONTENT_TYPE":
            key = "HTTP_" + key
        if key in environ:
            environ[key] += _SEPARATOR.get(key, ", ") + value
        else:
            environ[key] = value
    if length or scope.method in ("POST", "PUT", "PATCH"):
        environ["CONTENT_LENGTH"] = str(length)
    return environ


class Front:
    """The RSGI application: body deadline and cap in front of a WSGI application."""

    def __init__(self, app: WSGIApp, *, body_timeout: float, beacon_cap: int, cap: int, threads: int) -> None:
        self._app = app
        self._timeout = body_timeout
        self._beacon_cap = beacon_cap
        self._cap = cap
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._deadlines = _Deadlines(body_timeout)
        self._timing = FlaskTiming.of(app)  # the refusals answered here count in the duration histogram
        # Beacons go straight to the endpoint, with no WSGI environ (`_beacon`): the one path hit per page view.
        self._beacons = BeaconEndpoint.of(app)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="perfbudget-request")
        self._deadlines.start(loop)

    def __rsgi_del__(self, _loop: asyncio.AbstractEventLoop) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)

    async def __rsgi__(self, scope: Scope, protocol: HTTPProtocol) -> None:
        if scope.proto != "http":
            return  # websockets are off
        beacon = scope.path == BEACON_PATH and scope.method in ("POST", "OPTIONS")
        started = perf_counter()
        answer = await self._answer(scope, protocol, beacon)
        if type(answer[2]) is _Refused and self._timing is not None:
            self._timing.refused(scope.method, scope.path, answer[0], perf_counter() - started)
        protocol.response_bytes(*answer)

    async def _answer(self, scope: Scope, protocol: HTTPProtocol, beacon: bool) -> Answer:
        cap = self._beacon_cap if beacon else self._cap
        declared = _declared_length(scope.headers.get("content-length"))
        if declared is not None and declared > cap:
            body, length = b"", declared  # refused without reading a byte
        else:
            try:
                body, length = await self._deadlines.bounded(_read_body(protocol, cap, declared is not None))
            except _Late:
                return _refusal(408, f"the request body was not received within {self._timeout:g} s")
        if length > cap and not beacon:
            return _refusal(413, f"body is over the limit of {cap} bytes")
        if beacon and self._beacons is not None:
            status, headers, payload = self._beacon(self._beacons, scope, body if length <= cap else None)
        elif beacon:
            status, headers, payload = call_wsgi(self._app, environ_for(scope, body, length))
        else:
            environ = environ_for(scope, body, length)
            loop = asyncio.get_running_loop()
            status, headers, payload = await loop.run_in_executor(self._pool, call_wsgi, self._app, environ)
        if length > cap:
            headers = [*headers, _CLOSE]  # the rest of the body was never read
        return status, headers, payload


    @staticmethod
    def _beacon(endpoint: BeaconEndpoint, scope: Scope, body: bytes | None) -> Answer:
        """What the WSGI entry of the endpoint would answer, read from the scope (`body` None: over the cap).
        A header sent more than once is joined as environ_for joins it, so both entries decide alike."""
        headers = scope.headers
        if scope.method == "OPTIONS":
            return endpoint.preflight(_header(headers, "origin"))
        address = scope.client.rpartition(":")[0].strip("[]")
        if endpoint.proxy_hops:
            address = forwarded_client(_header(headers, "x-forwarded-for"), endpoint.proxy_hops) or address
        client = Client(
            referer=_header(headers, "referer"),
            user_agent=_header(headers, "user-agent"),
            ch_ua_mobile=_header(headers, "sec-ch-ua-mobile"),
            address=address,
            origin=_header(headers, "origin"),
        )
        return endpoint.post(client, lambda: body)


def _header(headers: Any, name: str) -> str | None:
    """A request header's value, its lines joined with ", " (RFC 9110) when it was sent more than once."""
    values = headers.get_all(name)
    if not values:
        return None
    return values[0] if len(values) == 1 else ", ".join(values)


def _declared_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def _read_body(protocol: HTTPProtocol, cap: int, has_length: bool) -> tuple[bytes, int]:
    """The body and its size; reading stops once the size is over `cap` (the size is then cap + something)."""
    if has_length:
        body = await protocol()  # granian stops at Content-Length: one await is the fast path
        return body, len(body)
    chunks: list[bytes] = []
    size = 0
    async for chunk in protocol:
        size += len(chunk)
        if size > cap:
            return b"", size
        chunks.append(chunk)
    return b"".join(chunks), size


class _Late(Exception):
    """A body read went past its deadline."""


class _Deadlines:
    """Body reads in progress and when each must end; a sweep every SWEEP_SECONDS cancels the late ones.

    One shared sweep instead of a timer per request: `asyncio.timeout()` around every read halved the
    throughput of a trivial handler under granian (benchmarks/ingest.py's floor, 11,100 -> 5,600 requests/s).
    A deadline is kept to within one sweep.
    """

    SWEEP_SECONDS = 0.5

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._reads: dict[asyncio.Task[Any], float] = {}
        self._late: set[asyncio.Task[Any]] = set()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_later(self.SWEEP_SECONDS, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, deadline in list(self._reads.items()):
            if deadline <= now:
                del self._reads[task]
                self._late.add(task)
                task.cancel()
        loop.call_later(self.SWEEP_SECONDS, self._sweep, loop)

    async def bounded(self, read: Coroutine[Any, Any, tuple[bytes, int]]) -> tuple[bytes, int]:
        """`read`, or `_Late` once the deadline has passed (a cancellation from anywhere else propagates)."""
        task = asyncio.current_task()
        assert task is not None
        self._reads[task] = asyncio.get_running_loop().time() + self._timeout
        try:
            return await read
        except asyncio.CancelledError:
            if task not in self._late:
                raise
            self._late.discard(task)
            task.uncancel()
            raise _Late from None
        finally:
            self._reads.pop(task, None)
