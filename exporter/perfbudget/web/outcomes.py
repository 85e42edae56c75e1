"""`GET /api/perf-fix/outcomes[?playbook=<id>][&window=7d]`: the fix outcomes per playbook (playbooks/outcomes.py).

A read like the others (web/auth.py: anyone while `auth.anonymous_reads`, else a token with the "read"
scope): the answer holds routes and figures, never a run's trigger, addresses or tokens. Answers
`{"success": true, "ok": true, "data": ...}`; a bad parameter is a 400 naming it.
"""

from __future__ import annotations

import difflib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..db import TRANSIENT_ERRORS
from ..playbooks.outcome_text import duration_text
from ..playbooks.outcomes import Outcomes
from ..summary import parse_window
from .auth import requires_read

bp = Blueprint("outcomes", __name__)
_KEY = "perfbudget.outcomes"


@dataclass
class _State:
    outcomes: Outcomes
    window: int  # playbooks.outcomes_window_seconds
    cache_seconds: float  # server.read_cache_seconds: the console refreshes often, each report reads windows
    _cached: dict[tuple[str | None, int], tuple[float, tuple[int, int], dict[str, Any]]] = field(
        default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, playbook: str | None, window: int) -> dict[str, Any]:
        """The report, reused for `cache_seconds` while no run changed and no page load arrived."""
        key, now, version = (playbook, window), time.monotonic(), self.outcomes.version()
        with self._lock:
            hit = self._cached.get(key)
        if hit is not None and now - hit[0] < self.cache_seconds and hit[1] == version:
            return hit[2]
        data = self.outcomes.report(playbook, window)
        with self._lock:
            if len(self._cached) > 64:  # one entry per playbook and window asked for: bounded
                self._cached.clear()
            self._cached[key] = (now, version, data)
        return data


def init_app(app: Flask, outcomes: Outcomes, window: int, cache_seconds: float = 0.0) -> None:
    app.extensions[_KEY] = _State(outcomes, window, cache_seconds)
    app.register_blueprint(bp)


def outcomes_of(app: Flask) -> Outcomes:
    """The fix outcomes an app answers with (the analytics report reads them too)."""
    return cast(_State, app.extensions[_KEY]).outcomes


def default_window(app: Flask) -> int:
    """The before/after window the app uses unless asked for another (playbooks.outcomes_window_seconds)."""
    return cast(_State, app.extensions[_KEY]).window


def console_rows(app: Flask) -> list[dict[str, Any]]:
    """The playbooks that ran, as the console lists their outcomes in words (GET /, "Fix outcomes")."""
    state = cast(_State | None, app.extensions.get(_KEY))
    if state is None:
        return []
    rows = []
    for book in state.report(None, state.window)["playbooks"]:
        if not book["runs"]:
            continue
        times = [f"{duration_text(t['medianSeconds'])} {words}" for t, words in (
            (book["timeToResolution"]["executed"], "after an execute"), (book["timeToResolution"]["byHand"], "by hand"))
            if t["count"]]
        rate = book["successRate"]
        rows.append({
            "id": book["playbookId"], "name": book["name"], "summary": book["summary"],
            "executions": book["executions"], "runs": book["runs"],
            "success": "-" if rate is None else f"{rate * 100:.0f} % ({book['succeeded']} of {book['executions']})",
            "resolution": "; ".join(times) or "-",
            "before": (book["before"] or {}).get("text", "-"), "after": (book["after"] or {}).get("text", "-"),
            "roi": (book["roi"] or {}).get("text", "-"),
        })
    return rows


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
        data = state.report(playbook, window)
    except TRANSIENT_ERRORS as exc:  # the audit log or the snapshots are locked or the disk is full
        return _bad(f"the audit log or the snapshots cannot be read now: {exc}; retry", 503)
    return jsonify({"success": True, "ok": True, "data": data}), 200
