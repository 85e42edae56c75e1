"""Structured event logs: one JSON object per line for each thing that happened, on the `perfbudget.events`
logger, apart from the human logs (it never propagates to them).

Every line has `time` (ISO-8601, UTC), `type` (one of EVENT_TYPES), `level` and `pid` (the worker that
wrote it), then the event's own fields and the ids that tie events together: `fingerprint` and `starts_at`
(an alert), `run_id` and `playbook` (a playbook run), `epoch` (a server run). Fields are chosen one by one,
never copied from a request or a run's detail, so no token, Authorization header, webhook URL or alert
annotation can reach a line; client addresses appear only when `logging.client_addresses` is on.

The JSON is python-json-logger's formatter. Several worker processes may share one file: it is opened in
append mode (O_APPEND: every write lands at the end, whoever writes) and each line is one write, so lines
never interleave. Nobody here rotates it: `WatchedFileHandler` reopens the file once its name points at
another one (logrotate's default `create` mode, or a plain `mv`), so rotation is the system's job.

`metric_collected` is written once a minute per route and vital by the worker that stores that minute's
snapshot (`metric_minutes.py`), never per beacon; `beacon_rejected` is sampled per worker
(`RejectionSampler`): the beacon path pays a counter increment and nothing else for either.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sized
from logging.handlers import WatchedFileHandler
from typing import Any, Protocol, TextIO

from pythonjsonlogger.json import JsonFormatter

from .config.logging import LoggingConfig

LOGGER_NAME = "perfbudget.events"

METRIC_COLLECTED = "metric_collected"
BEACON_REJECTED = "beacon_rejected"
ALERT_TRIGGERED = "alert_triggered"
ALERT_RESOLVED = "alert_resolved"
PLAYBOOK_PREVIEWED = "playbook_previewed"
PLAYBOOK_EXECUTED = "playbook_executed"
CONFIG_RELOADED = "config_reloaded"
AUTH_REFUSED = "auth_refused"
EVENT_TYPES = (METRIC_COLLECTED, BEACON_REJECTED, ALERT_TRIGGERED, ALERT_RESOLVED, PLAYBOOK_PREVIEWED,
               PLAYBOOK_EXECUTED, CONFIG_RELOADED, AUTH_REFUSED)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
#: The field a client address travels in; dropped by the handler unless the config allows addresses.
CLIENT_FIELD = "client"
#: The most config errors a config_reloaded line lists (the count is always there).
MAX_ERRORS = 20

_logger = logging.getLogger(LOGGER_NAME)
_logger.propagate = False  # never into the human logs (nor, unconfigured, Python's last-resort stderr)
_logger.addHandler(logging.NullHandler())
_logger.setLevel(logging.CRITICAL + 1)  # nothing until an app configures it


class _Stdout(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on whatever `sys.stdout` is when a line is written (like logging's last-resort handler on
    stderr), so a stream replaced after configuration (a test's capture, a redirect) is the one written."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _WithoutClient(logging.Filter):
    """Drops the client address from every line (addresses are personal data)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):
            record.msg.pop(CLIENT_FIELD, None)
        return True


def formatter() -> JsonFormatter:
    """One JSON object per line: time, type, level and pid first, then the event's fields."""
    # `defaults` fix the first two keys' places; the timestamp and the message's `type` fill them in.
    return JsonFormatter("%(levelname)s %(process)d", rename_fields={"levelname": "level", "process": "pid"},
                         timestamp="time", defaults={"time": None, "type": None})


def configure(settings: LoggingConfig) -> Callable[[], None]:
    """Point the event log where `settings` says, replacing what an earlier app of this process set; returns
    what undoes it (an app's close: nothing is written after, unless a newer app configured it again)."""
    _install(logging.NullHandler())
    if settings.events_level == "off":
        _logger.setLevel(logging.CRITICAL + 1)
        return reset
    handler: logging.Handler
    if settings.events_file is not None:
        settings.events_file.parent.mkdir(parents=True, exist_ok=True)
        handler = WatchedFileHandler(settings.events_file, mode="a", encoding="utf-8")
    else:
        handler = _Stdout()
    handler.setFormatter(formatter())
    if not settings.client_addresses:
        handler.addFilter(_WithoutClient())
    _logger.setLevel(_LEVELS[settings.events_level])
    _install(handler)
    return lambda: reset() if handler in _logger.handlers else None


def _install(handler: logging.Handler) -> None:
    for old in list(_logger.handlers):
        _logger.removeHandler(old)
        old.close()
    _logger.addHandler(handler)


def reset() -> None:
    """Back to writing nothing, as before any configure (a process that serves no app: the command line)."""
    _install(logging.NullHandler())
    _logger.setLevel(logging.CRITICAL + 1)


def emit(event_type: str, fields: Mapping[str, Any], level: int = logging.INFO) -> None:
    """Write one event; a failing handler reports on stderr (logging's handleError) and never raises here."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"{event_type!r} is not an event type; known: {', '.join(EVENT_TYPES)}")
    if _logger.isEnabledFor(level):
        _logger.log(level, {"type": event_type, **fields})


def enabled(level: int = logging.INFO) -> bool:
    """Whether events of `level` are written at all (to skip building them)."""
    return _logger.isEnabledFor(level)


# --- the events -----------------------------------------------------------------------------------


def metric_collected(*, epoch: str, minute: int, interval_seconds: int | None, final: bool, route: str, vital: str,
                     count: int, p75: float | None, unit: str, good_share: float | None) -> None:
    """One route's and vital's reports counted since the run's snapshot before (`minute`: this snapshot's,
    Unix seconds; `final`: counted after the minute's first line, by a worker's last snapshot)."""
    emit(METRIC_COLLECTED, {"epoch": epoch, "minute": _iso(minute), "interval_seconds": interval_seconds,
                            "final": final, "route": route, "vital": vital, "count": count, "p75": p75,
                            "unit": unit, "good_share": good_share})


def beacon_rejected(reason: str, suppressed: int) -> None:
    """A rejected beacon or report; `suppressed`: those of this reason not written since the last line."""
    emit(BEACON_REJECTED, {"reason": reason, "suppressed": suppressed})


class AlertLike(Protocol):
    """An Alertmanager alert as the webhook parsed it (playbooks.alerts.WebhookAlert)."""

    @property
    def status(self) -> str: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def starts_at(self) -> str: ...
    @property
    def ends_at(self) -> str: ...
    @property
    def key(self) -> str: ...


class ResultLike(Protocol):
    @property
    def executed_actions(self) -> Sized: ...
    @property
    def pending_manual_actions(self) -> Sized: ...
    @property
    def bytes_saved(self) -> int | None: ...


class RunLike(Protocol):
    """A playbook run as the audit log holds it (playbooks.records.Run)."""

    @property
    def id(self) -> str: ...
    @property
    def playbook(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def fingerprint(self) -> str | None: ...
    @property
    def starts_at(self) -> str | None: ...
    @property
    def trigger(self) -> dict[str, Any]: ...
    @property
    def started_at(self) -> float | None: ...
    @property
    def finished_at(self) -> float | None: ...
    @property
    def result(self) -> ResultLike: ...


class SubmittedLike(Protocol):
    """A run a delivery recorded, and whether it existed already (playbooks.store.Submitted)."""

    @property
    def run(self) -> RunLike: ...
    @property
    def duplicate(self) -> bool: ...


def alerts_delivered(alerts: Iterable[AlertLike], submitted: Iterable[SubmittedLike]) -> None:
    """alert_triggered for each firing alert of a webhook delivery (with the runs it started or found, by
    fingerprint and startsAt), alert_resolved for each resolved one."""
    if not enabled(logging.INFO):
        return
    runs: dict[tuple[str | None, str | None], list[SubmittedLike]] = {}
    for item in submitted:
        runs.setdefault((item.run.fingerprint, item.run.starts_at), []).append(item)
    for alert in alerts:
        ids = {"fingerprint": alert.key, "alertname": alert.labels.get("alertname"), "starts_at": alert.starts_at}
        if alert.status == "resolved":
            emit(ALERT_RESOLVED, {**ids, "ends_at": alert.ends_at or None, "labels": alert.labels})
            continue
        mine = runs.get((alert.key, alert.starts_at), [])
        emit(ALERT_TRIGGERED, {**ids, "labels": alert.labels, "run_ids": [item.run.id for item in mine],
                               "playbooks": [item.run.playbook for item in mine],
                               "repeated": bool(mine) and all(item.duplicate for item in mine)},
             logging.WARNING)


def playbook_run(run: RunLike) -> None:
    """playbook_previewed (a dry run) or playbook_executed (an execute) once a run has ended."""
    result = run.result
    duration = (round(run.finished_at - run.started_at, 3)
                if run.finished_at is not None and run.started_at is not None else None)
    emit(PLAYBOOK_EXECUTED if run.mode == "execute" else PLAYBOOK_PREVIEWED, {
        "run_id": run.id, "playbook": run.playbook, "mode": run.mode, "state": run.state,
        "trigger": run.trigger.get("type"), "fingerprint": run.fingerprint, "starts_at": run.starts_at,
        "executed_actions": len(result.executed_actions), "pending_manual_actions": len(result.pending_manual_actions),
        "bytes_saved": result.bytes_saved, "duration_seconds": duration,
    }, logging.WARNING if run.state == "failed" else logging.INFO)


def config_reloaded(config_file: object, errors: list[str]) -> None:
    """A reload asked for (`POST /-/reload`): applied when `errors` is empty, else refused with them."""
    emit(CONFIG_RELOADED, {"config_file": None if config_file is None else str(config_file), "ok": not errors,
                           "error_count": len(errors), "errors": errors[:MAX_ERRORS]},
         logging.ERROR if errors else logging.INFO)


def auth_refused(*, endpoint: str, method: str, reason: str, client: str | None) -> None:
    """A request refused for its credentials: the route template and a fixed reason, never what was sent."""
    emit(AUTH_REFUSED, {"endpoint": endpoint, "method": method, "reason": reason, CLIENT_FIELD: client},
         logging.WARNING)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# --- sampling on the beacon path ------------------------------------------------------------------


class RejectionSampler:
    """beacon_rejected lines of one worker: at most `per_minute` per reason and minute; the others are
    counted and reported in the next line of their reason (`suppressed`)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, tuple[int, int, int]] = {}  # reason -> (minute, written in it, suppressed)

    def __call__(self, reason: str) -> None:
        minute = int(self._clock() // 60)
        with self._lock:
            window, written, suppressed = self._state.get(reason, (minute, 0, 0))
            if window != minute:
                written = 0
            if written >= self._per_minute or not enabled(logging.INFO):
                self._state[reason] = (minute, written, suppressed + 1)
                return
            self._state[reason] = (minute, written + 1, 0)
        beacon_rejected(reason, suppressed)


def sampled_rejections(counters: Mapping[str, Callable[[], None]], per_minute: int) -> dict[str, Callable[[], None]]:
    """The rejection counters (reason -> increment), each also feeding one worker's RejectionSampler."""
    sampler = RejectionSampler(per_minute)

    def counting(reason: str, increment: Callable[[], None]) -> Callable[[], None]:
        def count() -> None:
            increment()
            sampler(reason)

        return count

    return {reason: counting(reason, increment) for reason, increment in counters.items()}
