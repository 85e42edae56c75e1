"""Operational endpoints: /metrics (Prometheus and OpenMetrics), /-/healthy, /-/ready, /-/reload, /beacon.js."""

from __future__ import annotations

from importlib import resources

from flask import Blueprint, Response, jsonify, request
from prometheus_client.exposition import choose_encoder

from ..app import services
from ..metrics import scrape_registry

bp = Blueprint("ops", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    """Content negotiation as client_python does it: OpenMetrics when the scraper asks for it."""
    state = services()
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(scrape_registry(state.registry))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


@bp.get("/-/healthy")
def healthy() -> Response:
    return Response("perfbudget is healthy.\n", mimetype="text/plain")


@bp.get("/-/ready")
def ready() -> tuple[Response, int]:
    problems = services().readiness()
    if problems:
        return jsonify({"ready": False, "problems": problems}), 503
    return jsonify({"ready": True}), 200


@bp.post("/-/reload")
def reload() -> tuple[Response, int]:
    """Validate the configuration file again and, when it is valid, apply it; 400 with every error if not."""
    state = services()
    denied = state.authorize("reload")
    if denied is not None:
        return denied
    errors = state.reload()
    if errors:
        return jsonify({"ok": False, "errors": errors}), 400
    return jsonify({"ok": True, "message": "configuration reloaded"}), 200


@bp.get("/beacon.js")
def beacon_js() -> Response:
    script = resources.files("perfbudget.web").joinpath("static/beacon.js").read_bytes()
    return Response(
        script,
        mimetype="text/javascript",
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )
