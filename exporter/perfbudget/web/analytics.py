"""`GET /api/performance-analytics?timeRange=30d`: the monitoring guide's analytics over a range (analytics/).

Reads follow the read rule (`@requires_read`). Not cached: an answer reads a few dozen snapshot windows
(two per route, one per series step) and what every worker's attribution blames, which a per-worker copy
would show stale. Errors carry both words the documents use: `{"success": false, "ok": false, "error": "..."}`.
"""

from __future__ import annotations

from typing import cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..analytics import Sources, build, parse_range
from .auth import requires_read

bp = Blueprint("analytics", __name__)
_KEY = "perfbudget.analytics"


def init_app(app: Flask, sources: Sources) -> None:
    app.extensions[_KEY] = sources
    app.register_blueprint(bp)


@bp.get("/api/performance-analytics")
@requires_read
def performance_analytics() -> tuple[Response, int]:
    sources = cast(Sources, current_app.extensions[_KEY])
    text = request.args.get("timeRange", f"{min(30, sources.retention_days)}d")
    try:
        span = parse_range(text, sources.retention_days)
    except ValueError as exc:
        return jsonify({"success": False, "ok": False, "error": str(exc)}), 400
    return jsonify({"success": True, "ok": True, "data": build(sources, span)}), 200
