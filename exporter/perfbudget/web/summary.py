"""`GET /api/web-vitals`: the current state per vital over a window (the contract in the README's API section).

Anonymous reads of it and of the console are limited per client address (`server.read_rate_limit`, keyed
like the beacon limit); a request with a valid token is not limited. Answers come from the cache the
workers share (`X-Perfbudget-Cache: hit` or `miss` says which).

`?verify=<run id>` (a run's `verificationUrl`) adds `verify`: the run's before and after of its vital, as the
runner's verification measures it (`web/perffix_answer.verify_json`); the summary is of the run's route
unless `page` names another. An unknown run is a 404, a malformed id a 400.

`?site=<name>` and `?version=<release>` (with sites or releases configured) filter by those labels, and
`?navigation=soft|hard` (with `beacons.navigation_type_label` on) keeps a single-page app's soft navigations
apart from its document loads; such an answer counts since the exporter started (label_counts.py) and says so
in its `filter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import orjson
from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..config.releases import OTHER_VERSION, check_version
from ..config.server import ServerConfig
from ..label_counts import NAVIGATION, NAVIGATIONS, filter_view
from ..routes import RouteNormalizer
from ..summary import SummaryService, parse_window
from .auth import READ_SCOPE, authorizer, requires_read
from .beacons import RateLimiter
from .clients import client_address
from .perffix import playbook_runner
from .perffix_answer import RUN_ID, verify_json

bp = Blueprint("summary", __name__)
_KEY = "perfbudget.summary"
#: The anonymous reads the limit covers: this endpoint and every console page.
LIMITED = ("summary.web_vitals", "console.")


@dataclass(frozen=True)
class _Summary:
    summary: SummaryService
    routes: RouteNormalizer
    limiter: RateLimiter
    proxy_hops: int
    sites: tuple[str, ...] = ()  # the site label's values (configured sites and other), () without sites
    versions: bool = False  # whether the version label is on
    navigation: bool = False  # whether the navigation_type label is on


def init_app(app: Flask, summary: SummaryService, routes: RouteNormalizer, server: ServerConfig,
             sites: tuple[str, ...] = (), versions: bool = False, navigation: bool = False) -> None:
    app.extensions[_KEY] = _Summary(summary, routes, RateLimiter(server.read_rate_limit), server.trusted_proxy_hops,
                                    sites, versions, navigation)
    app.register_blueprint(bp)
    app.before_request(_limit_reads)


def _has_token() -> bool:
    if not request.headers.get("Authorization"):
        return False
    guard = authorizer()
    return any(guard.token_name(scope) is not None for scope in {s for t in guard.auth.tokens for s in t.scopes})


def _limit_reads() -> tuple[Response, int] | None:
    endpoint = request.endpoint or ""
    if request.method not in ("GET", "HEAD") or not endpoint.startswith(LIMITED):
        return None
    state = cast(_Summary, current_app.extensions[_KEY])
    if _has_token():
        return None
    retry = state.limiter.retry_after(client_address(request.environ, state.proxy_hops))
    if retry is None:
        return None
    response = jsonify({"ok": False, "error": f"read rate limit exceeded; retry in {retry} s"})
    response.headers["Retry-After"] = str(retry)
    return response, 429


@bp.get("/api/web-vitals")
@requires_read
def web_vitals() -> tuple[Response, int]:
    state = cast(_Summary, current_app.extensions[_KEY])
    page = request.args.get("page") or None
    if page is not None and len(page) > 2048:
        return jsonify({"ok": False, "error": "page: longer than 2048 characters"}), 400
    try:
        window = parse_window(request.args.get("window", "1h"))
    except ValueError as exc:
        return jsonify({"ok": False, "error": str(exc)}), 400
    match, refused = _label_match(state)
    if refused is not None:
        return jsonify({"ok": False, "error": refused}), 400
    verify = request.args.get("verify")
    run = None
    if verify is not None:
        if not RUN_ID.match(verify):
            return jsonify({"ok": False, "error": f"verify: {verify[:80]!r} is not a run id (like "
                                                  "'18c2f3a4b5d-0123456789'; a run's verificationUrl has it)"}), 400
        run = playbook_runner(current_app).store.get(verify)
        if run is None:
            return jsonify({"ok": False, "error": f"verify: no run {verify!r} in the audit log"}), 404
    route = state.routes.lookup(page) if page is not None else (run.route if run is not None else None)
    body, hit = state.summary.answer(window, route, match)  # pageUrl: a URL the route's beacons reported
    if match:  # the answer says what it covers (label_counts.filter_view)
        body = orjson.dumps({**orjson.loads(body), **filter_view(match)})
    if run is not None:
        answer = orjson.loads(body)
        answer["verify"] = verify_json(playbook_runner(current_app), run, detail=authorizer().grants(READ_SCOPE))
        body = orjson.dumps(answer)
    return Response(body, mimetype="application/json", headers={"X-Perfbudget-Cache": "hit" if hit else "miss"}), 200


def _label_match(state: _Summary) -> tuple[dict[str, str], str | None]:
    """?site=, ?version= and ?navigation= as a label match for the live store, or why one is refused."""
    match: dict[str, str] = {}
    site = request.args.get("site")
    if site is not None:
        if not state.sites:
            return match, "site: no sites are configured (sites: [{name, hosts}]), so there is no site label"
        if site not in state.sites:
            return match, f"site: {site[:80]!r} is not a configured site (one of {', '.join(state.sites)})"
        match["site"] = site
    version = request.args.get("version")
    if version is not None:
        if not state.versions:
            return match, "version: releases are off (releases: in the config), so there is no version label"
        try:
            match["version"] = version if version == OTHER_VERSION else check_version(version)
        except ValueError as exc:
            return match, f"version: {exc}"
    navigation = request.args.get("navigation")
    if navigation is not None:
        if not state.navigation:
            return match, ("navigation: the navigation_type label is off (beacons.navigation_type_label: true "
                           "turns it on), so soft and hard navigations are counted together")
        if navigation not in NAVIGATIONS:
            return match, f"navigation: {navigation[:80]!r} is not one of {', '.join(NAVIGATIONS)}"
        match[NAVIGATION] = navigation
    return match, None
