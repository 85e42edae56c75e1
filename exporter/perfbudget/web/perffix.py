"""The playbooks API: `GET /api/perf-fix` lists them, `POST /api/perf-fix` runs one by hand,
`GET /api/perf-fix/runs[/<id>]` reads the audit log.

`POST /api/perf-fix` answers the founding contract's fields (`perffix_answer.py`): 200 with the result when
the run ends within `playbooks.answer_wait_seconds`, else 202 with what is known so far, the run's id and
where to poll (`Location`, `poll`). At most `playbooks.answer_waiters` answers wait at once per worker
process (`playbooks/waiters.py`); the others get their 202 at once.

A dry run changes nothing outside the exporter, so it needs no token (like every read while
`auth.anonymous_reads` is on); an execute needs a token with the `execute` scope and a playbook listed in
`playbooks.execute`. Runs started without such a token are limited per client address
(`playbooks.manual_rate_limit`, the address read as for beacons: `server.trusted_proxy_hops`); a caller with
an execute token is never counted against that anonymous budget. A run is shown whole to a token with the
"read" scope, and as its public view (no secrets, addresses or internals) to anyone else.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..db import TRANSIENT_ERRORS
from ..playbooks.estimates import expected_improvement
from ..playbooks.model import LEVELS
from ..playbooks.records import STATES
from ..playbooks.runner import Runner
from ..playbooks.store import QueueFull
from ..playbooks.waiters import AnswerWaiters
from ..vitals import VITALS
from .auth import READ_SCOPE, authorizer, requires_read
from .beacons import RateLimiter
from .clients import client_address
from .perffix_answer import RUN_ID, perffix_answer, run_url
from .runs import run_json

#: Why a run could not be queued now (a 503 with Retry-After): the queue is full, or the store is busy or away.
_NOT_QUEUED: tuple[type[Exception], ...] = (QueueFull, *TRANSIENT_ERRORS)
bp = Blueprint("perffix", __name__)
_KEY = "perfbudget.perffix"


@dataclass(frozen=True)
class _PerfFix:
    runner: Runner
    # Runs started by hand without an execute token, per client address (playbooks.manual_rate_limit).
    manual_limiter: RateLimiter
    proxy_hops: int  # server.trusted_proxy_hops: how the client address is read
    waiters: AnswerWaiters  # the bounded wait for a run to end before answering


def init_app(app: Flask, runner: Runner) -> None:
    config = runner.config
    app.extensions[_KEY] = _PerfFix(runner, RateLimiter(config.playbooks.manual_rate_limit),
                                    config.server.trusted_proxy_hops,
                                    AnswerWaiters.for_config(config, runner.store, runner.completions))
    app.register_blueprint(bp)


def playbook_runner(app: Flask) -> Runner:
    """The runner an app's playbooks API uses (its audit log, its queue)."""
    return cast(_PerfFix, app.extensions[_KEY]).runner


def answer_waiters(app: Flask) -> AnswerWaiters:
    """The bounded wait an app's POST /api/perf-fix answers use (how many wait now: `waiting`)."""
    return cast(_PerfFix, app.extensions[_KEY]).waiters


def _state() -> _PerfFix:
    return cast(_PerfFix, current_app.extensions[_KEY])


def _bad(message: str, status: int = 400) -> tuple[Response, int]:
    return jsonify({"ok": False, "error": message}), status


def _detail() -> bool:
    """Whether this reader sees runs whole: a token with the "read" scope."""
    return authorizer().grants(READ_SCOPE)


@bp.get("/api/perf-fix")
@requires_read
def list_playbooks() -> tuple[Response, int]:
    runner = _state().runner
    metric = (request.args.get("metric") or "").strip()
    impact = (request.args.get("impact") or "").strip().lower()
    if impact and impact not in LEVELS:
        return _bad(f"impact: {impact!r} is not one of {', '.join(LEVELS)}")
    known = sorted({m for book in runner.playbooks.values() for m in book.spec.metric} | set(VITALS))
    if metric and metric.lower() not in (m.lower() for m in known):
        close = difflib.get_close_matches(metric.upper(), [m.upper() for m in known], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return _bad(f"metric: {metric!r} is not one of {', '.join(known)}{hint}")
    books = [
        book.spec.summary() for book in runner.playbooks.values()
        if (not metric or metric.lower() in (m.lower() for m in book.spec.metric))
        and (not impact or book.spec.impact == impact)
    ]
    rules = runner.config.playbooks
    for book in books:
        book["executable"] = book["id"] in rules.execute
        # The model's figure needs the LCP resource load duration, not recorded yet: the prose until then.
        book["expectedImprovement"] = expected_improvement(runner.playbooks[book["id"]])
    return jsonify({"playbooks": books, "maxRisk": rules.max_risk}), 200


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key}: {value!r}: must be true or false")
    return value


@bp.post("/api/perf-fix")
def run_playbook() -> tuple[Response, int]:
    state = _state()
    runner = state.runner
    client = client_address(request.environ, state.proxy_hops)
    operator = authorizer().token_name("execute")
    retry = None if operator is not None else state.manual_limiter.retry_after(client)
    if retry is not None:
        response = jsonify({"ok": False, "error": f"too many runs started from this address without an execute "
                                                  f"token (playbooks.manual_rate_limit "
                                                  f"{runner.config.playbooks.manual_rate_limit}); retry in {retry} s"})
        response.headers["Retry-After"] = str(retry)
        return response, 429
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _bad("body: must be a JSON object like {\"playbookId\": \"optimize-images\", \"dryRun\": true}")
    playbook = body.get("playbookId")
    if not isinstance(playbook, str) or playbook not in runner.playbooks:
        valid = ", ".join(runner.playbooks)
        return _bad(f"playbookId: {playbook!r}: no such playbook; valid: {valid}")
    try:
        dry_run = _flag(body, "dryRun", True)
        auto_approve = _flag(body, "autoApprove", False)
    except ValueError as exc:
        return _bad(str(exc))
    route = body.get("route")
    if route is not None and (not isinstance(route, str) or len(route) > 256):
        return _bad(f"route: {route!r}: must be a route label (a string of at most 256 characters)")
    if not dry_run:
        denied = authorizer().refuse("execute")
        if denied is not None:
            return denied
        if playbook not in runner.config.playbooks.execute:
            return _bad(f"playbook {playbook!r} may not execute: list it in playbooks.execute in the config "
                        "(every other run is a dry run)", 403)
    trigger = {"type": "manual", "token": operator, "client": client}
    try:
        run = runner.submit_manual(playbook, execute=not dry_run, auto_approve=auto_approve, trigger=trigger,
                                   route=route)
    except _NOT_QUEUED as exc:
        # ManualShareFull too: runs started by hand may fill only their share of the queue (store.manual_share),
        # so anonymous dry runs can never shut out the Alertmanager webhook.
        response = jsonify({"ok": False, "error": f"cannot queue the run now, retry later: {exc}"})
        response.headers["Retry-After"] = "5"
        return response, 503
    waited = state.waiters.wait(run)
    current = waited.run or run
    response = jsonify(perffix_answer(runner, current, detail=_detail(), wait=waited))
    response.headers["Location"] = run_url(run.id)
    return response, 200 if waited.ended else 202


@bp.get("/api/perf-fix/runs")
@requires_read
def list_runs() -> tuple[Response, int]:
    runner = _state().runner
    args = request.args
    try:
        limit = int(args.get("limit", "50"))
    except ValueError:
        return _bad(f"limit: {args.get('limit')!r}: must be a whole number from 1 to 500")
    if not 1 <= limit <= 500:
        return _bad(f"limit: {limit}: must be from 1 to 500")
    state_filter = args.get("state") or None
    if state_filter is not None and state_filter not in STATES:
        return _bad(f"state: {state_filter!r} is not one of {', '.join(STATES)}")
    before = args.get("before") or None
    if before is not None and not RUN_ID.match(before):
        return _bad(f"before: {before!r} is not a run id")
    detail = _detail()
    runs = runner.store.recent(limit=limit, playbook=args.get("playbook") or None, state=state_filter,
                               before=before, fingerprint=args.get("fingerprint") or None)
    return jsonify({
        "runs": [run_json(runner, run, full=False, detail=detail) for run in runs],
        "next": runs[-1].id if len(runs) == limit else None,
    }), 200


@bp.get("/api/perf-fix/runs/<run_id>")
@requires_read
def get_run(run_id: str) -> tuple[Response, int]:
    runner = _state().runner
    run = runner.store.get(run_id, events=True) if RUN_ID.match(run_id) else None
    if run is None:
        return _bad(f"no run {run_id!r}", 404)
    return jsonify(run_json(runner, run, detail=_detail())), 200
