"""`GET /api/performance-monitoring[?service=<job>]`: system health, API performance per endpoint and
resource usage (the monitoring guide's answer; perfbudget/monitoring/ computes it).

It carries host figures and error classes, so it follows the read rule (anyone while
`auth.anonymous_reads`, else a token with the "read" scope). Errors are `{"success": false, "ok": false,
"error": "..."}`: 409 for `?service=` without `prometheus.url`, 404 for a job Prometheus does not scrape
(with the jobs it does), 502 when Prometheus does not answer.
"""

from __future__ import annotations

import json
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..monitoring import Monitoring, MonitoringError
from .auth import authorizer

bp = Blueprint("monitoring", __name__)
_KEY = "perfbudget.monitoring"


def init_app(app: Flask, monitoring: Monitoring) -> None:
    app.extensions[_KEY] = monitoring
    app.register_blueprint(bp)


def _error(status: int, message: str, extra: dict[str, Any] | None = None) -> tuple[Response, int]:
    return jsonify({"success": False, "ok": False, "error": message, **(extra or {})}), status


@bp.get("/api/performance-monitoring")
def performance_monitoring() -> tuple[Response, int]:
    denied = authorizer().refuse_read()
    if denied is not None:  # the read rule's answer, with the guide's word beside ours
        response, status = denied
        response.set_data(json.dumps({"success": False, **(response.get_json() or {})}))
        return response, status
    monitoring = cast(Monitoring, current_app.extensions[_KEY])
    try:
        body, hit = monitoring.answer(request.args.get("service"))
    except MonitoringError as exc:
        return _error(exc.status, str(exc), exc.extra)
    return Response(body, mimetype="application/json",
                    headers={"X-Perfbudget-Cache": "hit" if hit else "miss", "Cache-Control": "no-store"}), 200
