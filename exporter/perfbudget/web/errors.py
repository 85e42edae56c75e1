"""Errors under `/api/` are JSON, as every other answer there: `{"ok": false, "error": "..."}` with the
status (404 and 405 included, which Flask would answer with an HTML page), the status's own headers kept
(`Allow` on a 405). Elsewhere (the console, `/-/...`, `/metrics`) Flask's pages stay.

A store that is busy or away (db.TRANSIENT_ERRORS: SQLite locked, the shared PostgreSQL unreachable) is a 503
with Retry-After wherever no endpoint answered it itself: a client should retry, not take the exporter for
broken."""

from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException
from werkzeug.sansio.response import Response

from ..db import TRANSIENT_ERRORS
from . import beacons

log = logging.getLogger(__name__)

API_PREFIX = "/api/"


def init_app(app: Flask, max_body: int) -> None:
    def http_error(exc: HTTPException) -> Response:
        response = exc.get_response()
        if not request.path.startswith(API_PREFIX) and exc.code != 413:
            return response
        if exc.code == 413:
            message = f"body is over the limit of {max_body} bytes"
        elif exc.code == 405:
            if request.path == beacons.PATH:  # POST is taken in front of Flask (web/beacons.py)
                response.headers["Allow"] = f"POST, {response.headers.get('Allow')}"
            message = f"{request.method} is not allowed on {request.path} (allowed: {response.headers.get('Allow')})"
        elif exc.code == 404:
            message = f"no such endpoint: {request.path}"
        else:
            message = f"{exc.name}: {exc.description}"
        answer = app.json.response(ok=False, error=message)
        answer.status_code = exc.code or 500
        for name in ("Allow", "Retry-After"):
            if name in response.headers:
                answer.headers[name] = response.headers[name]
        return answer

    app.register_error_handler(HTTPException, http_error)

    def store_away(exc: Exception) -> Response:
        log.warning("%s %s: the store cannot answer now: %s", request.method, request.path, exc)
        message = f"the store is busy or unreachable, retry later: {str(exc).strip()[:300]}"
        if request.path.startswith(API_PREFIX):
            answer = app.json.response(ok=False, error=message)
        else:
            answer = app.response_class(message + "\n", mimetype="text/plain")
        answer.status_code = 503
        answer.headers["Retry-After"] = "5"
        return answer

    for error in TRANSIENT_ERRORS:
        app.register_error_handler(error, store_away)
