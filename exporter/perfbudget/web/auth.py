"""Authorization for the webhook and every write endpoint: bearer tokens (or HTTP basic) with scopes.

Tokens are compared in constant time (`hmac.compare_digest`), every configured token each time, so the
answer's timing tells nothing about which token came close. Every refusal is counted in
`perfbudget_auth_failures_total{endpoint, reason}` (the route template and a fixed reason, never the token).
"""

from __future__ import annotations

import base64
import hmac
import logging

from flask import Response, current_app, jsonify, request

from ..config.auth import Token
from ..config.model import Config

log = logging.getLogger(__name__)

#: Why a request was refused, the only values the `reason` label takes.
AUTH_FAILURE_REASONS = ("missing", "wrong", "scope", "unconfigured")


def _presented(header: str, allow_basic: bool) -> tuple[str, str | None] | None:
    """(secret, basic username or None) from an Authorization header, or None when there is none."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value, None
    if scheme.lower() == "basic" and value and allow_basic:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII text (a plain ValueError)
            return None
        if sep:
            return password, user
    return None


def _matching(config: Config, header: str | None) -> tuple[bool, Token | None]:
    """(whether credentials were presented at all, the configured token they match or None)."""
    if not header:
        return False, None
    presented = _presented(header, config.auth.allow_basic)
    if presented is None:
        return False, None
    secret = presented[0].encode("utf-8", "surrogateescape")
    match: Token | None = None
    for token in config.auth.tokens:
        # No early exit: every token is compared, whichever matches.
        if hmac.compare_digest(secret, token.token.get_secret_value().encode()):
            match = token
    return True, match


def token_name(config: Config, header: str | None, scope: str) -> str | None:
    """The name of the configured token with `scope` that `header` presents, or None."""
    _, token = _matching(config, header)
    return token.name if token is not None and scope in token.scopes else None


def _count_refusal(reason: str) -> None:
    from ..app import EXTENSION

    metrics = getattr(current_app.extensions.get(EXTENSION), "metrics", None)
    counter = getattr(metrics, "auth_failures", None)
    # The matched route template (a handful of fixed values), never the raw path.
    endpoint = request.url_rule.rule if request.url_rule is not None else "unknown"
    if counter is not None:
        counter.labels(endpoint, reason).inc()
    log.info("refused %s %s from %s: %s", request.method, endpoint, request.remote_addr, reason)


def authorize(config: Config, scope: str) -> tuple[Response, int] | None:
    """None when the request may go ahead; else the 401/403 answer to return (and the refusal counted)."""
    if not config.auth.tokens:
        _count_refusal("unconfigured")
        body = jsonify({
            "error": f"this endpoint needs a token with the {scope!r} scope and none is configured: "
            "set PERFBUDGET_API_TOKEN or auth.tokens in the config"
        })
        return body, 403
    presented, token = _matching(config, request.headers.get("Authorization"))
    if token is None or scope not in token.scopes:
        _count_refusal("missing" if not presented else "wrong" if token is None else "scope")
        response = jsonify({"error": f"missing or wrong credentials: send 'Authorization: Bearer <token>' "
                                     f"with a token that has the {scope!r} scope"})
        response.headers["WWW-Authenticate"] = 'Bearer realm="perfbudget"'
        return response, 401
    return None
