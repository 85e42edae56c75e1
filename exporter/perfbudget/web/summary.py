"""`GET /api/web-vitals`: the current state per vital over a window (the seed's contract, DESIGN.md)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..app import services
from ..summary import parse_window

bp = Blueprint("summary", __name__)


@bp.get("/api/web-vitals")
def web_vitals() -> tuple[Response, int]:
    state = services()
    page = request.args.get("page") or None
    if page is not None and len(page) > 2048:
        return jsonify({"error": "page: longer than 2048 characters"}), 400
    try:
        window = parse_window(request.args.get("window", "1h"))
    except ValueError as exc:
        return jsonify({"error": str(exc)}), 400
    route = state.route_label(page) if page is not None else None
    answer = state.summary.state(window, route)
    return jsonify(answer), 200
