"""`GET /api/performance-analytics?timeRange=30d`: the monitoring guide's analytics over a range (analytics/).

Reads follow the read rule (`@requires_read`). An answer over long ranges reads many snapshot windows, so
each worker keeps it CACHE_SECONDS per range. Errors carry both words the documents use:
`{"success": false, "ok": false, "error": "..."}`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..analytics import Sources, build, parse_range
from .auth import requires_read

bp = Blueprint("analytics", __name__)
_KEY = "perfbudget.analytics"
CACHE_SECONDS = 10.0
CACHED_RANGES = 8  # answers kept per worker (the oldest goes first)


@dataclass
class _Analytics:
    sources: Sources
    cached: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def init_app(app: Flask, sources: Sources) -> None:
    app.extensions[_KEY] = _Analytics(sources)
    app.register_blueprint(bp)


def _error(message: str, status: int) -> tuple[Response, int]:
    return jsonify({"success": False, "ok": False, "error": message}), status


@bp.get("/api/performance-analytics")
@requires_read
def performance_analytics() -> tuple[Response, int]:
    state = cast(_Analytics, current_app.extensions[_KEY])
    retention = state.sources.retention_days
    text = request.args.get("timeRange", f"{min(30, retention)}d")
    try:
        span = parse_range(text, retention)
    except ValueError as exc:
        return _error(str(exc), 400)
    now = time.monotonic()
    with state.lock:
        hit = state.cached.get(span.text)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return jsonify({"success": True, "ok": True, "data": hit[1]}), 200
    data = build(state.sources, span)
    with state.lock:
        state.cached[span.text] = (now, data)
        while len(state.cached) > CACHED_RANGES:
            del state.cached[min(state.cached, key=lambda key: state.cached[key][0])]
    return jsonify({"success": True, "ok": True, "data": data}), 200
