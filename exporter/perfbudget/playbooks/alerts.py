"""What an Alertmanager notification starts: its payload (webhook version 4), validated, and the decision.

Each firing alert starts a run of every playbook it matches (an execute only with `execute_on_alert` and the
playbook in `playbooks.execute`, and for a route alert with enough distinct clients on the route, else a dry
run with the reason in its trigger); each resolved alert marks its runs resolved. The whole
delivery is recorded in one transaction (see `Store.record_delivery`: idempotency, cooldown, queue size), so
`receive` either returns what was recorded or raises with nothing recorded: `QueueFull`, or
`sqlite3.OperationalError` when the audit log is locked or the disk is full. Both are transient.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..config.errors import format_validation_error
from ..config.model import Config
from ..distinct_clients import RouteClients
from ..eventlog import alerts_delivered
from .outcome_metrics import resolved as observe_resolved
from .records import DRY_RUN, EXECUTE, SKIPPED, Mode, NewRun
from .runner import Runner
from .store import Resolution, Submitted, idempotency_key


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


def mode_for_alert(config: Config, playbook: str) -> Mode:
    """An alert executes a playbook only when both `execute_on_alert` and `playbooks.execute` say so."""
    rules = config.playbooks
    return EXECUTE if rules.execute_on_alert and playbook in rules.execute else DRY_RUN


def execute_refusal(config: Config, clients: RouteClients | None, labels: dict[str, str]) -> str | None:
    """Why an alert's execute runs as a dry run instead, or None: a route alert needs
    `playbooks.execute_min_clients` distinct clients on its route (forged beacons come from few addresses)."""
    rules = config.playbooks
    minimum, window = rules.execute_min_clients, rules.execute_clients_window
    route = labels.get("route")
    if not minimum or not route:  # alerts without a route are not made of beacons
        return None
    if clients is None:
        return (f"the distinct clients of route {route!r} cannot be read here, and playbooks.execute_min_clients "
                f"is {minimum}: dry run instead of execute")
    count = clients.count(route, window)
    if count >= minimum:
        return None
    return (f"route {route!r} had {count} distinct client{'' if count == 1 else 's'} over the last {window}, "
            f"under playbooks.execute_min_clients ({minimum}): dry run instead of execute")


@dataclass(frozen=True)
class Delivery:
    """What one notification did: the runs it recorded (new or repeated) and the alerts it started nothing for."""

    alerts: int
    submitted: list[Submitted]
    # Runs marked resolved by the delivery's resolved alerts.
    resolved_runs: int
    # Firing alerts not started because the same alert (fingerprint, startsAt) was already resolved.
    already_resolved: int
    # Firing alerts no playbook matches.
    unmatched: int


def _trigger(payload: WebhookPayload, alert: WebhookAlert, client: str | None) -> dict[str, Any]:
    return {
        "type": "alert", "receiver": payload.receiver, "groupKey": payload.group_key,
        "fingerprint": alert.key, "startsAt": alert.starts_at, "labels": alert.labels,
        "annotations": alert.annotations, "generatorURL": alert.generator_url,
        "externalURL": payload.external_url, "client": client,
    }


def receive(runner: Runner, payload: WebhookPayload, client: str | None, received: Counter | None = None) -> Delivery:
    """Record the runs a notification starts and the alerts it resolves, then wake the workers.

    `client` is the sender's address, kept in each run's trigger; `received` counts the alerts by status
    (perfbudget_alerts_received_total). Raises QueueFull or sqlite3.OperationalError with nothing recorded
    (the sender should retry).
    """
    firing: list[NewRun] = []
    resolved: list[Resolution] = []
    unmatched = 0
    for alert in payload.alerts:
        if received is not None:
            received.labels(alert.status).inc()
        # Each alert's own status: the group's may be stale when max_alerts truncated the list.
        if alert.status == "resolved":
            resolved.append(Resolution(alert.key, alert.starts_at, alert.ends_at or None))
            continue
        books = runner.playbooks.matching(alert.labels)
        if not books:
            unmatched += 1
        trigger = _trigger(payload, alert, client)
        refusal: str | None = None
        for book in books:
            mode, run_trigger = mode_for_alert(runner.config, book.id), trigger
            if mode == EXECUTE:
                clients = runner.metrics.distinct_clients if runner.metrics is not None else None
                refusal = refusal or execute_refusal(runner.config, clients, alert.labels)
                if refusal is not None:
                    mode, run_trigger = DRY_RUN, {**trigger, "executeRefused": refusal}
            firing.append(NewRun(book.id, mode, run_trigger, {},
                                 idempotency_key(book.id, alert.key, alert.starts_at), alert.key, alert.starts_at))
    rules = runner.config.playbooks
    recorded = runner.store.record_delivery(firing, resolved, queue_size=rules.queue_size,
                                            cooldown_seconds=rules.cooldown_seconds)
    runner.wake()
    alerts_delivered(payload.alerts, recorded.submitted)  # alert_triggered, alert_resolved (eventlog)
    if runner.metrics is not None:
        observe_resolved(runner.metrics, recorded.resolved)  # perfbudget_playbook_resolution_seconds
    for item in recorded.submitted:
        if not item.duplicate and item.run.state == SKIPPED:
            runner.count(item.run.playbook, item.run.mode, SKIPPED)
    return Delivery(len(payload.alerts), recorded.submitted, recorded.resolved_runs, recorded.already_resolved,
                    unmatched)
