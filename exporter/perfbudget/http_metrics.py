"""perfbudget's own HTTP server metrics, with OpenTelemetry's semantic names, in the shared-memory store.

`http_server_request_duration_seconds{http_route, http_request_method, http_response_status_code}` (OTel's
`http.server.request.duration` as Prometheus names it), on OTel's advisory buckets, for every request:

- the beacon fast path in front of Flask (web/beacons.py) observes it itself, one call per request through
  an observer cached per status code;
- everything Flask serves goes through `FlaskTiming`, a WSGI middleware around Flask's own `wsgi_app`,
  timed until the body's iterator is closed (so a streamed `/metrics` counts whole).

Labels are bounded: `http_route` is the Flask url_rule pattern (`/api/perf-fix/runs/<run_id>`), or
`unmatched` when no rule matched (a 404, a 405), never the raw path; `http_request_method` one of the
methods OTel knows, else `_OTHER` as OTel says; the status code is what the application answered. The
generated API latency and error-rate budgets read this family, and service_history.py keeps a minute by
minute history of it for ranges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from time import perf_counter
from typing import Any

from flask import Flask, got_request_exception, request, request_started
from werkzeug.exceptions import HTTPException

from .store import FamilySpec, Histogram, Observer

HTTP_DURATION = "http_server_request_duration_seconds"
#: OpenTelemetry's advisory bucket boundaries for http.server.request.duration, in seconds.
OTEL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
#: The methods OTel's semantic conventions know (RFC 9110 and PATCH, RFC 5789); any other is `_OTHER`.
KNOWN_METHODS = frozenset(("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"))
OTHER_METHOD = "_OTHER"
#: The route label of a request no rule matched.
UNMATCHED = "unmatched"
LABELS = ("http_route", "http_request_method", "http_response_status_code")
#: Series per slab: routes (a few dozen rules and `unmatched`) x methods x the codes this app answers with.
CAPACITY = 2048
_ROUTE_KEY = "perfbudget.http_route"
_ERROR_KEY = "perfbudget.http_error"
_EXTENSION = "perfbudget.http_timing"

#: What a 5xx is reported to: (endpoint "<METHOD> <route>", status code, short error class).
ErrorSink = Callable[[str, int, str], None]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def http_spec() -> FamilySpec:
    return FamilySpec.histogram(
        HTTP_DURATION,
        "Duration of HTTP server requests perfbudget answered, in seconds (OpenTelemetry's "
        "http.server.request.duration), by route template, method and status code.",
        LABELS, OTEL_BUCKETS, capacity=CAPACITY, key_bytes=128)


def method_label(method: str | None) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def endpoint_name(method: str, route: str) -> str:
    """The endpoint's name in the monitoring answers and the history: OTel's span name, `<METHOD> <route>`."""
    return f"{method} {route}"


def _discard(_value: float) -> None:
    """Where observations go once the family's slots are all taken (the store counts the refusal)."""


class StatusObservers(dict[int, Observer]):
    """One route and method's observers by status code, each made on its first use (no series is exposed
    before a request answered with its code): `observers[code](seconds)` is one dict lookup."""

    def __init__(self, http: HttpMetrics, route: str, method: str) -> None:
        super().__init__()
        self._http, self._route, self._method = http, route, method

    def __missing__(self, code: int) -> Observer:
        observer = self[code] = self._http.observer(self._route, self._method, code)
        return observer


class HttpMetrics:
    """Observers of the duration histogram, one per label tuple, cached."""

    def __init__(self, family: Histogram) -> None:
        self._family = family
        self._observers: dict[tuple[str, str, str], Observer] = {}

    def by_status(self, route: str, method: str) -> StatusObservers:
        return StatusObservers(self, route, method_label(method))

    def observer(self, route: str, method: str, status: int | str) -> Observer:
        """The `observe(seconds)` of one series; `method` must already be bounded (`method_label`)."""
        key = (route, method, str(status))
        found = self._observers.get(key)
        if found is None:
            found = self._observers[key] = self._family.observer(key) or _discard
        return found


class _Timed:
    """A WSGI body that records the request when the server closes it (after the last byte)."""

    __slots__ = ("_body", "_done")

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done()


class FlaskTiming:
    """Times every request Flask serves. Install with `app.wsgi_app = FlaskTiming(app, http, on_error)`,
    before anything is put in front of Flask that answers by itself (the beacon endpoint observes its own)."""

    def __init__(self, app: Flask, http: HttpMetrics, on_error: ErrorSink | None = None) -> None:
        self._next: WSGIApp = app.wsgi_app
        self._urls = app.url_map
        app.extensions[_EXTENSION] = self
        self._http = http
        self._on_error = on_error
        # Signals, not before_request: a before_request hook that answers (a read limit) stops the ones after it.
        request_started.connect(self._started, app, weak=False)
        got_request_exception.connect(self._failed, app, weak=False)

    @staticmethod
    def of(app: object) -> FlaskTiming | None:
        """The timing installed on a Flask app (None for another WSGI application)."""
        extensions = getattr(app, "extensions", None)
        found = extensions.get(_EXTENSION) if isinstance(extensions, dict) else None
        return found if isinstance(found, FlaskTiming) else None

    def refused(self, method: str, path: str, status: int, seconds: float) -> None:
        """A request answered in front of the application (server/front.py: a late or oversized body), under
        the route its path would have matched."""
        try:
            rule, _ = self._urls.bind("perfbudget").match(path, method, return_rule=True)
            route = rule.rule
        except HTTPException:
            route = UNMATCHED
        self._http.observer(route, method_label(method), status)(seconds)

    @staticmethod
    def _started(_sender: Flask, **_extra: Any) -> None:
        rule = request.url_rule
        request.environ[_ROUTE_KEY] = rule.rule if rule is not None else UNMATCHED

    @staticmethod
    def _failed(_sender: Flask, exception: BaseException | None = None, **_extra: Any) -> None:
        if exception is not None:
            request.environ[_ERROR_KEY] = type(exception).__name__

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = perf_counter()
        status = [500]

        def start(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = int(line.split(" ", 1)[0])
            return start_response(line, headers, exc_info)

        def done() -> None:
            self._record(environ, status[0], perf_counter() - started)

        try:
            body = self._next(environ, start)
        except BaseException:
            done()
            raise
        wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(wrapper, type) and isinstance(body, wrapper):
            done()  # a file the server sends itself (gunicorn's sendfile): kept as it is, timed to here
            return body
        return _Timed(body, done)

    def _record(self, environ: dict[str, Any], status: int, seconds: float) -> None:
        route = environ.get(_ROUTE_KEY, UNMATCHED)
        method = method_label(environ.get("REQUEST_METHOD"))
        self._http.observer(route, method, status)(seconds)
        if status >= 500 and self._on_error is not None:
            error = environ.get(_ERROR_KEY) or _phrase(status)
            self._on_error(endpoint_name(method, route), status, error)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
