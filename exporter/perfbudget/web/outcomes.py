"""`GET /api/perf-fix/outcomes[?playbook=<id>][&window=7d]`: the fix outcomes per playbook (playbooks/outcomes.py).

A read like the others (web/auth.py: anyone while `auth.anonymous_reads`, else a token with the "read"
scope): the answer holds routes and figures, never a run's trigger, addresses or tokens. Answers
`{"success": true, "ok": true, "data": ...}`; a bad parameter is a 400 naming it.
"""

from __future__ import annotations

import difflib
import sqlite3
from dataclasses import dataclass
from typing import cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..playbooks.outcomes import Outcomes
from ..summary import parse_window
from .auth import requires_read

bp = Blueprint("outcomes", __name__)
_KEY = "perfbudget.outcomes"


@dataclass(frozen=True)
class _State:
    outcomes: Outcomes
    window: int  # playbooks.outcomes_window_seconds


def init_app(app: Flask, outcomes: Outcomes, window: int) -> None:
    app.extensions[_KEY] = _State(outcomes, window)
    app.register_blueprint(bp)


def outcomes_of(app: Flask) -> Outcomes:
    """The fix outcomes an app answers with (the analytics report reads them too)."""
    return cast(_State, app.extensions[_KEY]).outcomes


def default_window(app: Flask) -> int:
    """The before/after window the app uses unless asked for another (playbooks.outcomes_window_seconds)."""
    return cast(_State, app.extensions[_KEY]).window


def _bad(message: str, status: int = 400) -> tuple[Response, int]:
    return jsonify({"success": False, "ok": False, "error": message}), status


@bp.get("/api/perf-fix/outcomes")
@requires_read
def outcomes() -> tuple[Response, int]:
    state = cast(_State, current_app.extensions[_KEY])
    playbook = request.args.get("playbook")
    if playbook is not None:
        playbook = playbook.strip()
        known = sorted(state.outcomes.playbook_ids())
        if playbook not in known:
            close = difflib.get_close_matches(playbook, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else f"; known: {', '.join(known)}"
            return _bad(f"playbook: {playbook[:100]!r} is not a loaded playbook and has no runs{hint}", 404)
    window = state.window
    text = request.args.get("window")
    if text is not None:
        try:
            window = parse_window(text)
        except ValueError as exc:
            return _bad(f"window: {exc}")
    try:
        data = state.outcomes.report(playbook, window)
    except sqlite3.OperationalError as exc:  # the audit log or the snapshots are locked or the disk is full
        return _bad(f"the audit log or the snapshots cannot be read now: {exc}; retry", 503)
    return jsonify({"success": True, "ok": True, "data": data}), 200
