"""`GET /api/performance-analytics?timeRange=30d`: the monitoring guide's analytics over a range (analytics/).

Reads follow the read rule (`@requires_read`). An answer reads a few dozen snapshot windows (two per route,
one per series step; about half a second for 100 routes over 30 days on two cores), so it is computed once
for every worker and kept like the summary's (answer_cache.py: `server.read_cache_seconds` while no report
arrives, about a second while reports do; `X-Perfbudget-Cache` says hit or miss). Errors carry both words
the documents use: `{"success": false, "ok": false, "error": "..."}`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import orjson
from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..analytics import Sources, build, parse_range
from ..answer_cache import AnswerCache
from .auth import requires_read

bp = Blueprint("analytics", __name__)
_KEY = "perfbudget.analytics"


@dataclass(frozen=True)
class _Analytics:
    sources: Sources
    cache: AnswerCache
    generation: Callable[[], int]  # reports accepted so far: an answer computed at the same count still holds


def init_app(app: Flask, sources: Sources, cache: AnswerCache, generation: Callable[[], int]) -> None:
    app.extensions[_KEY] = _Analytics(sources, cache, generation)
    app.register_blueprint(bp)


@bp.get("/api/performance-analytics")
@requires_read
def performance_analytics() -> tuple[Response, int]:
    state = cast(_Analytics, current_app.extensions[_KEY])
    retention = state.sources.retention_days
    text = request.args.get("timeRange", f"{min(30, retention)}d")
    try:
        span = parse_range(text, retention)
    except ValueError as exc:
        return jsonify({"success": False, "ok": False, "error": str(exc)}), 400
    body, hit = state.cache.get(
        f"analytics|{span.text}", state.generation(),
        lambda: orjson.dumps({"success": True, "ok": True, "data": build(state.sources, span)}))
    return Response(body, mimetype="application/json", headers={"X-Perfbudget-Cache": "hit" if hit else "miss"}), 200
