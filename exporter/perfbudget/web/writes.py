"""What every write endpoint asks of a request before its view runs: the server's own origin and a JSON body.

A browser sends a cross-site "simple" request (a `text/plain` or form body, no custom header) without asking
first, with the user's cookies and cached credentials; only a preflight lets the server refuse it before it
arrives. So a write takes `application/json` (which a cross-site page cannot send without a preflight, and
no CORS allow header is ever answered for a write) and a request that says it comes from another site is
refused: `Sec-Fetch-Site: cross-site` or `same-site`, or an `Origin` that is not this server's (nor
`actions.external_url`'s). Clients that are not browsers (curl, Alertmanager) send neither header.

A request with no body and no Content-Type carries nothing to parse, so it needs no content type:
`curl -X POST .../-/reload -H 'Authorization: Bearer ...'` keeps working. The beacon endpoint is not a write
here: it answers in front of Flask and keeps taking `sendBeacon`'s cross-origin `text/plain` from
`beacons.allowed_origins`.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = "application/json"
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _host(netloc: str, scheme: str) -> str:
    """host[:port] lowercased, the scheme's default port left out (as browsers write Origin and Host)."""
    netloc = netloc.strip().lower()
    port = _DEFAULT_PORTS.get(scheme)
    return netloc[: -len(port) - 1] if port and netloc.endswith(f":{port}") else netloc


def cross_site_reason(origin: str | None, fetch_site: str | None, host: str, scheme: str,
                      own_origins: frozenset[str]) -> str | None:
    """Why a write is refused as cross-site, or None. `host` and `scheme` are how the request reached us,
    `own_origins` the configured origins of this server (`actions.external_url`'s)."""
    site = (fetch_site or "").strip().lower()
    if site in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site: {site}: writes are taken from this server's own pages only"
    if origin is None:
        return None  # not a browser, or a same-origin GET-like navigation: nothing claims another site
    parts = urlsplit(origin.strip())
    if origin.strip().lower() == "null" or parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return f"Origin {origin!r}: writes are taken from this server's own pages only"
    claimed = _host(parts.netloc, parts.scheme)
    if claimed == _host(host, scheme) or f"{parts.scheme}://{claimed}" in own_origins:
        return None
    return f"Origin {origin!r} is not this server's origin: writes are taken from its own pages only"


def _has_body() -> bool:
    return bool(request.content_length) or "Transfer-Encoding" in request.headers


def _refuse(status: int, message: str) -> tuple[Response, int]:
    endpoint = request.url_rule.rule if request.url_rule is not None else request.path
    log.info("refused %s %s from %s: %s", request.method, endpoint, request.remote_addr, message)
    return jsonify({"ok": False, "error": message}), status


def init_app(app: Flask, external_url: str | None) -> None:
    """Guard every write route of `app` (each POST, PUT, PATCH and DELETE that matches a route)."""
    own: set[str] = set()
    if external_url:
        parts = urlsplit(external_url)
        if parts.scheme in _DEFAULT_PORTS and parts.netloc:
            own.add(f"{parts.scheme}://{_host(parts.netloc, parts.scheme)}")
    own_origins = frozenset(own)

    @app.before_request
    def guard_writes() -> tuple[Response, int] | None:
        if request.method not in WRITE_METHODS or request.url_rule is None:
            return None  # reads, and requests no route takes (their 404 or 405 follows)
        reason = cross_site_reason(request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"),
                                   request.host, request.scheme, own_origins)
        if reason is not None:
            return _refuse(403, reason)
        content_type = request.headers.get("Content-Type")
        if content_type is None and not _has_body():
            return None
        if request.mimetype != JSON:
            shown = content_type if content_type is not None else "none"
            return _refuse(415, f"Content-Type: {shown!r}: this endpoint takes {JSON} only")
        return None
