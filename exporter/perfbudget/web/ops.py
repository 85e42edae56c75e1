"""Operational endpoints: /metrics (Prometheus and OpenMetrics), /-/healthy, /-/ready, /-/reload, /beacon.js."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from .. import heap
from ..config.env import WEB_VITALS_JS_ENV
from ..metrics import Metrics
from ..reload import Reloader
from .auth import requires_scope

bp = Blueprint("ops", __name__)
WEB_VITALS_FILE = "web-vitals.attribution.iife.js"
_KEY = "perfbudget.ops"


#: The constant in beacon.js that its sample rate replaces, once, when it is served.
SAMPLE_RATE_MARK = b"/*perfbudget:sample-rate*/1;"


@dataclass(frozen=True)
class _Ops:
    metrics: Metrics
    readiness: Callable[[], list[str]]
    reloader: Reloader
    beacon_script: bytes


def init_app(app: Flask, metrics: Metrics, readiness: Callable[[], list[str]],
             reloader: Reloader, sample_rate: float = 1.0) -> None:
    """`readiness` lists why the exporter cannot answer (empty when it can); `sample_rate` is the share of page
    views /beacon.js reports (beacons.sample_rate), served in the script and exposed as a gauge."""
    app.extensions[_KEY] = _Ops(metrics, readiness, reloader, beacon_script(sample_rate))
    metrics.beacon_sample_rate.set(sample_rate)
    app.register_blueprint(bp)


def beacon_script(sample_rate: float) -> bytes:
    """beacon.js with `sample_rate` written in: the page draws against the exporter's rate, not its own."""
    script = _file_bytes(Path(str(resources.files("perfbudget.web").joinpath("static/beacon.js"))))
    if script.count(SAMPLE_RATE_MARK) != 1:
        raise RuntimeError(f"static/beacon.js must hold {SAMPLE_RATE_MARK.decode()!r} exactly once (the sample "
                           "rate is written there when it is served)")
    return script.replace(SAMPLE_RATE_MARK, f"/*perfbudget:sample-rate*/{sample_rate!r};".encode())


def _ops() -> _Ops:
    return cast(_Ops, current_app.extensions[_KEY])


@bp.get("/metrics")
def metrics() -> Response:
    """Content negotiation as client_python does it: OpenMetrics when the scraper asks for it."""
    body, content_type = _ops().metrics.exposition(request.headers.get("Accept", ""))
    response = Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
    # A scrape builds and frees its rows and text at once (tens of MB at 50,000 series): give the free pages
    # back when the body has gone, or the worker keeps them in its RSS between scrapes.
    response.call_on_close(heap.trim)
    return response


@bp.get("/-/healthy")
def healthy() -> Response:
    return Response("perfbudget is healthy.\n", mimetype="text/plain")


@bp.get("/-/ready")
def ready() -> tuple[Response, int]:
    problems = _ops().readiness()
    if problems:
        return jsonify({"ready": False, "problems": problems}), 503
    return jsonify({"ready": True}), 200


@bp.post("/-/reload")
@requires_scope("reload")
def reload() -> tuple[Response, int]:
    """Validate the configuration file again and, when it is valid, apply it; 400 with every error if not."""
    errors = _ops().reloader.reload()
    if errors:
        return jsonify({"ok": False, "errors": errors}), 400
    return jsonify({"ok": True, "message": "configuration reloaded"}), 200


@functools.cache
def _file_bytes(path: Path) -> bytes:
    """A script served on every page view of a site: read once per process, not once per request."""
    return path.read_bytes()


def web_vitals_script() -> Path | None:
    """The web-vitals IIFE build to serve beside /beacon.js: $PERFBUDGET_WEB_VITALS_JS, the copy the Docker
    image puts in the package, or the npm package of a source checkout."""
    candidates = [os.environ.get(WEB_VITALS_JS_ENV)]
    candidates.append(str(resources.files("perfbudget.web").joinpath(f"static/vendor/{WEB_VITALS_FILE}")))
    checkout = Path(__file__).resolve().parents[3]
    candidates.append(str(checkout / "node_modules" / "web-vitals" / "dist" / WEB_VITALS_FILE))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@bp.get(f"/{WEB_VITALS_FILE}")
def web_vitals_js() -> Response | tuple[Response, int]:
    path = web_vitals_script()
    if path is None:
        return jsonify({"error": f"{WEB_VITALS_FILE} is not available here: install the npm package web-vitals "
                                 "and set PERFBUDGET_WEB_VITALS_JS to its dist/ file, or serve it from your site"}), 404
    return Response(_file_bytes(path), mimetype="text/javascript",
                    headers={"Cache-Control": "public, max-age=86400", "Access-Control-Allow-Origin": "*"})


@bp.get("/beacon.js")
def beacon_js() -> Response:
    return Response(
        _ops().beacon_script,
        mimetype="text/javascript",
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )
