"""Authorization for the webhook and every write endpoint: bearer tokens (or HTTP basic) with scopes.

Tokens are compared in constant time (`hmac.compare_digest`), every configured token each time, so the
answer's timing tells nothing about which token came close.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from flask import Response, jsonify, request

from ..config.model import Config


def _presented(header: str, allow_basic: bool) -> tuple[str, str | None] | None:
    """(secret, basic username or None) from an Authorization header, or None when there is none."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value, None
    if scheme.lower() == "basic" and value and allow_basic:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if sep:
            return password, user
    return None


def token_name(config: Config, header: str | None, scope: str) -> str | None:
    """The name of the configured token with `scope` that `header` presents, or None."""
    if not header:
        return None
    presented = _presented(header, config.auth.allow_basic)
    if presented is None:
        return None
    secret = presented[0].encode()
    match: str | None = None
    for token in config.auth.tokens:
        # No early exit: every token is compared, whichever matches.
        if hmac.compare_digest(secret, token.token.get_secret_value().encode()) and scope in token.scopes:
            match = token.name
    return match


def authorize(config: Config, scope: str) -> tuple[Response, int] | None:
    """None when the request may go ahead; else the 401/403 answer to return."""
    if not config.auth.tokens:
        body = jsonify({
            "error": f"this endpoint needs a token with the {scope!r} scope and none is configured: "
            "set PERFBUDGET_API_TOKEN or auth.tokens in the config"
        })
        return body, 403
    if token_name(config, request.headers.get("Authorization"), scope) is None:
        response = jsonify({"error": f"missing or wrong credentials: send 'Authorization: Bearer <token>' "
                                     f"with a token that has the {scope!r} scope"})
        response.headers["WWW-Authenticate"] = 'Bearer realm="perfbudget"'
        return response, 401
    return None
