"""`/api/performance-alerts`: the monitoring guide's service thresholds set by API.

`POST {alertType, threshold, severity?}` (a token with the reload scope) stores the threshold in the
overrides file beside the budgets and applies it through the same validated reload as any config change,
which regenerates the rules into `prometheus.rules_dir` and asks Prometheus to load them; `GET` lists them
(the read rule), `DELETE /api/performance-alerts/<id>` removes one (reload scope). Answers and errors carry
both words the founding documents use: `{"success": ..., "ok": ...}`.
"""

from __future__ import annotations

import difflib
import functools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..budgets.overrides import (
    KINDS,
    SEVERITIES,
    VITAL_NAMES,
    Override,
    Overrides,
    locked,
    overrides_path,
    read_overrides,
    severity_refusal,
    threshold_number,
    write_overrides,
)
from ..budgets.publish import Published, rules_dir_problem
from ..config import ConfigError
from ..reload import Reloader
from ..thresholds import ServiceThresholds
from .auth import authorizer

bp = Blueprint("thresholds", __name__)
PATH = "/api/performance-alerts"
_KEY = "perfbudget.thresholds"
_FIELDS = ("alertType", "threshold", "severity")


@dataclass(frozen=True)
class _State:
    reloader: Reloader
    in_force: Overrides  # the overrides this app was built with (the configuration in force)
    thresholds: ServiceThresholds
    clock: Callable[[], float]


def init_app(app: Flask, reloader: Reloader, in_force: Overrides, thresholds: ServiceThresholds,
             clock: Callable[[], float] = time.time) -> None:
    app.extensions[_KEY] = _State(reloader, in_force, thresholds, clock)
    app.register_blueprint(bp)


def _state() -> _State:
    return cast(_State, current_app.extensions[_KEY])


class _Refused(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def _error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"success": False, "ok": False, "error": message, **extra}), status


def _guarded(scope: str | None) -> Callable[[Callable[..., tuple[Response, int]]], Callable[..., tuple[Response, int]]]:
    """The scope's check (the read rule when None), its refusal in this API's words; `_Refused` answered."""

    def decorate(view: Callable[..., tuple[Response, int]]) -> Callable[..., tuple[Response, int]]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> tuple[Response, int]:
            who = authorizer()
            denied = who.refuse(scope) if scope is not None else who.refuse_read()
            if denied is not None:
                response, status = denied
                response.set_data(current_app.json.dumps({"success": False, **(response.get_json() or {})}))
                return response, status
            try:
                return view(*args, **kwargs)
            except _Refused as refused:
                return _error(refused.status, refused.message, **refused.extra)

        return guarded

    return decorate


def _alert_type(body: dict[str, Any]) -> str:
    if "alertType" not in body:
        raise _Refused(400, f"alertType: required, one of {', '.join(KINDS)}")
    value = body["alertType"]
    if not isinstance(value, str):
        raise _Refused(400, f"alertType: {value!r}: must be a string, one of {', '.join(KINDS)}")
    if value.lower() in VITAL_NAMES:
        raise _Refused(400, f"alertType: {value!r}: Web Vitals budgets stay in the budgets file (vitals:), since "
                            "their targets are the histograms' bucket edges: change it there, run `perfbudget "
                            f"generate` and restart; this API sets the service thresholds {', '.join(KINDS)}")
    if value not in KINDS:
        close = difflib.get_close_matches(value.lower().replace("-", "_"), list(KINDS), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _Refused(400, f"alertType: {value!r}: not a service threshold, one of {', '.join(KINDS)}{hint}")
    return value


def _parse(body: Any, now: float) -> Override:
    """The request's threshold, validated as the overrides file is; `_Refused` 400 naming the field."""
    if not isinstance(body, dict):
        raise _Refused(400, "body: must be a JSON object like {\"alertType\": \"cpu\", \"threshold\": 80}")
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise _Refused(400, f"{unknown[0]}: unknown field (this endpoint takes {', '.join(_FIELDS)}; a threshold "
                            "applies to every job Prometheus scrapes)")
    alert_type = _alert_type(body)
    if "threshold" not in body:
        raise _Refused(400, f"threshold: required ({'milliseconds' if KINDS[alert_type].unit == 'ms' else 'percent'})")
    try:
        threshold = threshold_number(alert_type, body["threshold"])
    except ValueError as exc:
        raise _Refused(400, f"threshold: {exc}") from None
    severity = body.get("severity")
    if severity is not None:
        if severity not in SEVERITIES:
            raise _Refused(400, f"severity: {severity!r}: not one of {', '.join(SEVERITIES)}")
        if KINDS[alert_type].severity_key is None:
            raise _Refused(400, f"severity: {severity_refusal(alert_type)}")
    created = datetime.fromtimestamp(now, UTC)
    return Override.model_validate({
        "id": f"alert_{int(now * 1000)}_{secrets.token_hex(3)}", "alert_type": alert_type, "threshold": threshold,
        "severity": severity, "created_at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z")})


def _entry(item: Override, status: str) -> dict[str, Any]:
    """The guide's alert config {id, type, threshold, status, createdAt}, then what we know beyond it."""
    kind = KINDS[item.alert_type]
    return {"id": item.id, "type": item.alert_type, "threshold": item.threshold, "status": status,
            "createdAt": item.created_at, "unit": kind.unit, "severity": item.severity,
            "replaces": kind.budget_key}


def _rules(published: Published | None) -> dict[str, Any] | None:
    if published is None:
        return None
    return {"dir": published.rules_dir, "files": list(published.files), "prometheus": published.prometheus,
            "prometheusReloaded": published.reloaded}


def _change(change: Callable[[Overrides], Overrides]) -> tuple[Overrides, Published | None]:
    """Apply `change` to the overrides file on disk and reload; the file put back (and the rules with it)
    when the reload refuses. `_Refused` 409 when nothing can be applied."""
    reloader = _state().reloader
    config, errors = reloader.validate()
    if config is None or errors:
        raise _Refused(409, "nothing applied: the configuration on disk does not validate", errors=errors)
    problem = rules_dir_problem(config)
    if problem is not None:
        raise _Refused(409, problem)
    path = overrides_path(config)
    with locked(path):
        before = _read_text(path)
        try:
            updated = change(read_overrides(path))
        except ConfigError as exc:
            raise _Refused(409, "nothing applied: the thresholds file does not validate", errors=exc.errors) from None
        write_overrides(path, updated)
        applied = reloader.apply()
        if applied.errors:
            _restore(path, before)
            reloader.apply()  # the rules and the workers back on the file as it was
            raise _Refused(409, "nothing applied: the reload refused the configuration", errors=applied.errors)
    return updated, applied.published


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _restore(path: Path, text: str | None) -> None:
    if text is None:
        path.unlink(missing_ok=True)
        return
    temporary = path.with_name(f".{path.name}.restore")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


@bp.post(PATH)
@_guarded("reload")
def create() -> tuple[Response, int]:
    override = _parse(request.get_json(silent=True), _state().clock())
    _, published = _change(lambda current: current.with_override(override))
    data = {**_entry(override, "active"), "rules": _rules(published)}
    return jsonify({"success": True, "ok": True, "data": data}), 201


@bp.get(PATH)
@_guarded(None)
def listing() -> tuple[Response, int]:
    """Every threshold set by API: `active` once the configuration in force has it, `pending` while a
    reload is under way; `thresholds` is every service threshold this worker alerts with and its source."""
    state = _state()
    config, errors = state.reloader.validate()
    on_disk = state.in_force if config is None or errors else read_overrides(overrides_path(config))
    data = [_entry(item, "active" if state.in_force.find(item.id) else "pending") for item in on_disk.items]
    thresholds = [{"type": t.alert_type, "threshold": t.value, "unit": t.unit, "severity": t.severity,
                   "source": t.source, "sourceDetail": t.source_detail, "alerting": t.alerting}
                  for t in state.thresholds.all()]
    return jsonify({"success": True, "ok": True, "data": data, "thresholds": thresholds}), 200


@bp.delete(f"{PATH}/<alert_id>")
@_guarded("reload")
def remove(alert_id: str) -> tuple[Response, int]:
    found: list[Override] = []

    def without(current: Overrides) -> Overrides:
        item = current.find(alert_id)
        if item is None:
            ids = ", ".join(i.id for i in current.items) or "none"
            raise _Refused(404, f"no threshold {alert_id!r} (the ids set are: {ids})")
        found.append(item)
        return current.without(alert_id)

    _, published = _change(without)
    data = {**_entry(found[0], "deleted"), "rules": _rules(published)}
    return jsonify({"success": True, "ok": True, "data": data}), 200
