"""`POST /api/alertmanager`: Alertmanager's webhook (payload version 4) -> recorded, queued playbook runs.

Alertmanager retries a 5xx with backoff and treats any other 4xx as final for that flush, so this answers
4xx only for bad credentials or a malformed payload, 5xx only for a transient fault (database locked, queue
full), and 200 once every run is durably recorded: authenticate, validate, record, enqueue, answer. The
work itself happens in the runner's worker threads.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, cast

import orjson
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..config.errors import format_validation_error
from ..playbooks.runner import Runner
from ..playbooks.store import SKIPPED, NewRun, QueueFull, Resolution, idempotency_key
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


class _Lenient(BaseModel):
    # Newer Alertmanagers add fields; unknown ones are ignored, the ones we use are checked.
    model_config = ConfigDict(extra="ignore", frozen=True)


def _rfc3339(value: str) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("is not an RFC 3339 time like 2025-01-02T03:04:05.123Z") from None
    return value


class WebhookAlert(_Lenient):
    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    # Kept exactly as sent: it is part of the idempotency key, and every delivery of one alert repeats it.
    starts_at: Annotated[str, Field(alias="startsAt")]
    ends_at: Annotated[str, Field(alias="endsAt")] = ""
    generator_url: Annotated[str, Field(alias="generatorURL")] = ""
    fingerprint: str = ""

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in ("firing", "resolved"):
            raise ValueError("is not one of firing, resolved")
        return value

    @field_validator("starts_at")
    @classmethod
    def _starts(cls, value: str) -> str:
        return _rfc3339(value)

    @property
    def key(self) -> str:
        """Alertmanager's fingerprint, or (from a sender that omits it) a hash of the sorted labels."""
        if self.fingerprint:
            return self.fingerprint
        text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(self.labels.items()))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


class WebhookPayload(_Lenient):
    version: str
    receiver: str = ""
    status: str = ""
    group_key: Annotated[str, Field(alias="groupKey")] = ""
    truncated_alerts: Annotated[int, Field(alias="truncatedAlerts", ge=0)] = 0
    external_url: Annotated[str, Field(alias="externalURL")] = ""
    alerts: list[WebhookAlert]

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value != "4":
            raise ValueError("only Alertmanager webhook payload version 4 is supported")
        return value


class PayloadError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def parse_payload(body: bytes) -> WebhookPayload:
    """The webhook body, validated; PayloadError lists every problem ('payload: alerts[0].labels: ...')."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError([f"payload: not JSON: {exc}"]) from None
    if not isinstance(data, dict):
        raise PayloadError([f"payload: (top level): must be a JSON object, not {type(data).__name__}"])
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as exc:
        raise PayloadError(format_validation_error("payload", exc)) from None


def _unavailable(message: str) -> tuple[Response, int]:
    response = jsonify({"error": message, "retry": True})
    response.headers["Retry-After"] = RETRY_AFTER
    return response, 503


@bp.post("/api/alertmanager")
@requires_scope("webhook")
def alertmanager() -> tuple[Response, int]:
    state = cast(_Alerts, current_app.extensions[_KEY])
    if request.content_length is not None and request.content_length > MAX_BODY:
        return jsonify({"error": f"payload: larger than {MAX_BODY} bytes"}), 413
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY:
        return jsonify({"error": f"payload: larger than {MAX_BODY} bytes"}), 413
    try:
        payload = parse_payload(body)
    except PayloadError as exc:
        return jsonify({"error": "malformed Alertmanager webhook payload", "errors": exc.errors}), 400

    runner = state.runner
    firing: list[NewRun] = []
    resolved: list[Resolution] = []
    unmatched = 0
    for alert in payload.alerts:
        state.received.labels(alert.status).inc()
        # Each alert's own status: the group's may be stale when max_alerts truncated the list.
        if alert.status == "resolved":
            resolved.append(Resolution(alert.key, alert.starts_at, alert.ends_at or None))
            continue
        books = runner.playbooks.matching(alert.labels)
        if not books:
            unmatched += 1
        trigger: dict[str, Any] = {
            "type": "alert", "receiver": payload.receiver, "groupKey": payload.group_key,
            "fingerprint": alert.key, "startsAt": alert.starts_at, "labels": alert.labels,
            "annotations": alert.annotations, "generatorURL": alert.generator_url,
            "externalURL": payload.external_url, "client": request.remote_addr,
        }
        for book in books:
            firing.append(NewRun(book.id, runner.mode_for_alert(book.id), trigger, {},
                                 idempotency_key(book.id, alert.key, alert.starts_at), alert.key, alert.starts_at))
    rules = runner.config.playbooks
    try:
        delivery = runner.store.record_delivery(firing, resolved, queue_size=rules.queue_size,
                                                cooldown_seconds=rules.cooldown_seconds)
    except QueueFull as exc:
        return _unavailable(f"playbook queue is full, retry later: {exc}")
    except sqlite3.OperationalError as exc:  # locked or busy beyond the timeout, disk full: all transient
        log.warning("audit log unavailable: %s", exc)
        return _unavailable(f"audit log unavailable, retry later: {exc}")
    runner.wake()
    for item in delivery.submitted:
        if not item.duplicate and item.run.state == SKIPPED:
            runner.count(item.run.playbook, item.run.mode, SKIPPED)
    return jsonify({
        "ok": True,
        "alerts": len(payload.alerts),
        "runs": [
            {"id": item.run.id, "playbookId": item.run.playbook, "mode": item.run.mode, "state": item.run.state,
             "duplicate": item.duplicate, "fingerprint": item.run.fingerprint, "message": item.run.message}
            for item in delivery.submitted
        ],
        "resolvedRuns": delivery.resolved_runs,
        "alreadyResolved": delivery.already_resolved,
        "unmatched": unmatched,
    }), 200
