"""`/api/releases`: the releases the `version` label counts under (releases.py).

`POST {version}` (a token with the "reload" scope: a deploy pipeline's, which may already reload the
config) announces a release: it becomes the newest known version for every worker within
`releases.refresh_seconds`, and the `releases.keep` most recent stay known. `GET` lists them, newest first
(the read rule). With releases off (no `releases:` configured) both answer 404 saying how to turn them on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..config.releases import check_version
from ..releases import Releases, ReleaseStore
from .auth import requires_read, requires_scope

bp = Blueprint("releases", __name__)
PATH = "/api/releases"
_KEY = "perfbudget.releases"
_OFF = ("releases are off: configure releases.enabled: true (or releases.versions / releases.pattern) to get a "
        "version label")


@dataclass(frozen=True)
class _State:
    releases: Releases | None
    store: ReleaseStore | None
    clock: Callable[[], float]


def init_app(app: Flask, releases: Releases | None, store: ReleaseStore | None,
             clock: Callable[[], float] = time.time) -> None:
    app.extensions[_KEY] = _State(releases, store, clock)
    app.register_blueprint(bp)


def _state() -> _State:
    return cast(_State, current_app.extensions[_KEY])


def _listing(state: _State) -> dict[str, Any]:
    assert state.releases is not None
    return {"ok": True, "keep": state.releases.keep, "releases": [r.to_json() for r in state.releases.releases()]}


@bp.get(PATH)
@requires_read
def list_releases() -> tuple[Response, int]:
    state = _state()
    if state.releases is None:
        return jsonify({"ok": False, "error": _OFF}), 404
    return jsonify(_listing(state)), 200


@bp.post(PATH)
@requires_scope("reload")
def announce() -> tuple[Response, int]:
    state = _state()
    if state.releases is None or state.store is None:
        return jsonify({"ok": False, "error": _OFF}), 404
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"ok": False, "error": 'body: expected a JSON object like {"version": "2024.06.1"}'}), 400
    unknown = sorted(set(body) - {"version"})
    if unknown:
        return jsonify({"ok": False, "error": f"body: unknown field {unknown[0]!r} (the only field is version)"}), 400
    version = body.get("version")
    if not isinstance(version, str):
        return jsonify({"ok": False, "error": f"version: expected a string, got {type(version).__name__}"
                        if version is not None else "version: required field is missing"}), 400
    try:
        check_version(version)
    except ValueError as exc:
        return jsonify({"ok": False, "error": f"version: {exc}"}), 400
    state.store.announce(version, state.clock())
    return jsonify({**_listing(state), "version": version}), 200
