"""`GET /api/web-vitals`: the current state per vital over a window (the contract in the README's API section)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..routes import RouteNormalizer
from ..summary import SummaryService, parse_window

bp = Blueprint("summary", __name__)
_KEY = "perfbudget.summary"


@dataclass(frozen=True)
class _Summary:
    summary: SummaryService
    routes: RouteNormalizer


def init_app(app: Flask, summary: SummaryService, routes: RouteNormalizer) -> None:
    app.extensions[_KEY] = _Summary(summary, routes)
    app.register_blueprint(bp)


@bp.get("/api/web-vitals")
def web_vitals() -> tuple[Response, int]:
    state = cast(_Summary, current_app.extensions[_KEY])
    page = request.args.get("page") or None
    if page is not None and len(page) > 2048:
        return jsonify({"error": "page: longer than 2048 characters"}), 400
    try:
        window = parse_window(request.args.get("window", "1h"))
    except ValueError as exc:
        return jsonify({"error": str(exc)}), 400
    route = state.routes.lookup(page) if page is not None else None
    answer = state.summary.state(window, route)
    return jsonify(answer), 200
