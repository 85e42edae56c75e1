"""Authorization for the webhook, every write endpoint and the reads: bearer tokens with scopes (HTTP basic for
the webhook alone, as Alertmanager's `basic_auth` sends it: a browser replays cached Basic credentials on
cross-site requests by itself, so no other endpoint takes them).

Tokens are compared in constant time (`hmac.compare_digest`), every configured token each time, so the
answer's timing tells nothing about which token came close. Every refusal is counted in
`perfbudget_auth_failures_total{endpoint, reason}` (the route template and a fixed reason, never the token).
"""

from __future__ import annotations

import base64
import functools
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar, cast

from flask import Flask, Response, current_app, jsonify, request
from prometheus_client import Counter

from ..config.auth import AuthConfig, Token
from ..config.env import API_TOKEN_ENV
from ..eventlog import auth_refused

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


#: The one scope that may be presented by HTTP basic (when `auth.allow_basic`).
BASIC_SCOPE = "webhook"


def _matching(auth: AuthConfig, header: str | None, scope: str) -> tuple[bool, Token | None]:
    """(whether credentials were presented at all, the configured token they match or None)."""
    if not header:
        return False, None
    presented = _presented(header, auth.allow_basic and scope == BASIC_SCOPE)
    if presented is None:
        return False, None
    secret = presented[0].encode("utf-8", "surrogateescape")
    match: Token | None = None
    for token in auth.tokens:
        # No early exit: every token is compared, whichever matches.
        if hmac.compare_digest(secret, token.token.get_secret_value().encode()):
            match = token
    return True, match


KEY = "perfbudget.auth"
#: The scope that sees a run's full detail, and every read when `auth.anonymous_reads` is false.
READ_SCOPE = "read"
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Authorizer:
    """The configured tokens and the counter of refusals: the one thing every protected endpoint asks."""

    auth: AuthConfig
    failures: Counter

    def refuse(self, scope: str) -> tuple[Response, int] | None:
        """None when the request may go ahead; else the 401/403 answer to return (and the refusal counted)."""
        if not self.auth.tokens:
            self._count("unconfigured")
            body = jsonify({
                "ok": False,
                "error": f"this endpoint needs a token with the {scope!r} scope and none is configured: "
                f"set {API_TOKEN_ENV} or auth.tokens in the config"
            })
            return body, 403
        presented, token = _matching(self.auth, request.headers.get("Authorization"), scope)
        if token is None or scope not in token.scopes:
            self._count("missing" if not presented else "wrong" if token is None else "scope")
            response = jsonify({"ok": False,
                                "error": f"missing or wrong credentials: send 'Authorization: Bearer <token>' "
                                         f"with a token that has the {scope!r} scope"})
            response.headers["WWW-Authenticate"] = 'Bearer realm="perfbudget"'
            return response, 401
        return None

    def token_name(self, scope: str) -> str | None:
        """The name of the configured token with `scope` that this request presents, or None."""
        _, token = _matching(self.auth, request.headers.get("Authorization"), scope)
        return token.name if token is not None and scope in token.scopes else None

    def grants(self, scope: str) -> bool:
        """Whether this request presents a configured token with `scope` (nothing is counted either way)."""
        return self.token_name(scope) is not None

    def refuse_read(self) -> tuple[Response, int] | None:
        """None when the request may read: anyone while `auth.anonymous_reads`, else a token with "read"."""
        return None if self.auth.anonymous_reads else self.refuse(READ_SCOPE)

    def _count(self, reason: str) -> None:
        # The matched route template (a handful of fixed values), never the raw path.
        endpoint = request.url_rule.rule if request.url_rule is not None else "unknown"
        self.failures.labels(endpoint, reason).inc()
        log.info("refused %s %s from %s: %s", request.method, endpoint, request.remote_addr, reason)
        auth_refused(endpoint=endpoint, method=request.method, reason=reason, client=request.remote_addr)


def init_app(app: Flask, auth: AuthConfig, failures: Counter) -> None:
    app.extensions[KEY] = Authorizer(auth, failures)


def authorizer() -> Authorizer:
    """The current app's authorizer (inside a request)."""
    return cast(Authorizer, current_app.extensions[KEY])


def requires_scope(scope: str) -> Callable[[Callable[P, R]], Callable[P, R | tuple[Response, int]]]:
    """A view decorator: the view runs only for a request with a token that has `scope`."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | tuple[Response, int]]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | tuple[Response, int]:
            denied = authorizer().refuse(scope)
            return denied if denied is not None else view(*args, **kwargs)

        return guarded

    return decorate


def requires_read(view: Callable[P, R]) -> Callable[P, R | tuple[Response, int]]:
    """A view decorator for reads: open to anyone while `auth.anonymous_reads` is true (the default), else
    the request needs a token with the "read" scope (401 without one, counted like any refusal)."""

    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | tuple[Response, int]:
        denied = authorizer().refuse_read()
        return denied if denied is not None else view(*args, **kwargs)

    return guarded
