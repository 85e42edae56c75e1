"""`POST /api/alertmanager`: Alertmanager's webhook (payload version 4) -> recorded, queued playbook runs.

Alertmanager retries a 5xx with backoff and treats any other 4xx as final for that flush, so this answers
4xx only for bad credentials or a malformed payload, 5xx only for a transient fault (database locked, queue
full), and 200 once every run is durably recorded. This blueprint authenticates, reads and parses the body
and answers; what the alerts start is decided by `playbooks.alerts.receive`, and the work itself happens in
the runner's worker threads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import Counter

from ..db import TRANSIENT_ERRORS
from ..playbooks.alerts import PayloadError, parse_payload, receive
from ..playbooks.runner import Runner
from ..playbooks.store import QueueFull
from .auth import requires_scope

bp = Blueprint("alerts", __name__)
log = logging.getLogger(__name__)
_KEY = "perfbudget.alerts"


@dataclass(frozen=True)
class _Alerts:
    runner: Runner
    received: Counter  # perfbudget_alerts_received_total{status}


def init_app(app: Flask, runner: Runner, received: Counter) -> None:
    app.extensions[_KEY] = _Alerts(runner, received)
    app.register_blueprint(bp)


# Alertmanager sends at most `max_alerts` per notification (unlimited by default); a few MiB is thousands.
MAX_BODY = 8 << 20
RETRY_AFTER = "5"


def _unavailable(message: str) -> tuple[Response, int]:
    response = jsonify({"ok": False, "error": message, "retry": True})
    response.headers["Retry-After"] = RETRY_AFTER
    return response, 503


@bp.post("/api/alertmanager")
@requires_scope("webhook")
def alertmanager() -> tuple[Response, int]:
    state = cast(_Alerts, current_app.extensions[_KEY])
    if request.content_length is not None and request.content_length > MAX_BODY:
        return jsonify({"ok": False, "error": f"payload: larger than {MAX_BODY} bytes"}), 413
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY:
        return jsonify({"ok": False, "error": f"payload: larger than {MAX_BODY} bytes"}), 413
    try:
        payload = parse_payload(body)
    except PayloadError as exc:
        return jsonify({"error": "malformed Alertmanager webhook payload", "errors": exc.errors}), 400

    try:
        delivery = receive(state.runner, payload, request.remote_addr, state.received)
    except QueueFull as exc:
        return _unavailable(f"playbook queue is full, retry later: {exc}")
    except TRANSIENT_ERRORS as exc:  # locked or busy beyond the timeout, disk full: all transient
        log.warning("audit log unavailable: %s", exc)
        return _unavailable(f"audit log unavailable, retry later: {exc}")
    return jsonify({
        "ok": True,
        "alerts": delivery.alerts,
        "runs": [
            {"id": item.run.id, "playbookId": item.run.playbook, "mode": item.run.mode, "state": item.run.state,
             "duplicate": item.duplicate, "fingerprint": item.run.fingerprint, "message": item.run.message}
            for item in delivery.submitted
        ],
        "resolvedRuns": delivery.resolved_runs,
        "alreadyResolved": delivery.already_resolved,
        "unmatched": delivery.unmatched,
    }), 200
