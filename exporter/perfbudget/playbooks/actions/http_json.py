"""A small JSON-over-HTTP client for the webhook and Grafana kinds: timeouts, bounded retries, no deps."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ...config.model import Config
from .base import ActionError, ActionOutcome

# Statuses worth another attempt: the server is overloaded or briefly broken; any other 4xx is final.
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 30.0
REDACTED = "<redacted>"
# Header names that always carry credentials, whatever their value.
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}
# Secrets shorter than this are not searched for inside free text: replacing "1" everywhere would garble
# every number while hiding nothing worth hiding. Headers holding them are still redacted whole.
_MIN_SCRUB_LENGTH = 4
J = TypeVar("J")
# A path segment that looks like a credential (Slack's and Discord's webhook URLs carry theirs in the path):
# eight characters or more with a digit in them, or 24 and more of anything.
_TOKEN_LIKE = re.compile(r"^(?=.*\d).{8,}$|^.{24,}$")
# Query parameters whose value is a credential whatever it looks like (every value is redacted in a URL shown;
# these are also scrubbed from free text that quotes them).
_SECRET_PARAMETER = re.compile(r"token|key|secret|sig|pass|auth|code|credential", re.IGNORECASE)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: urllib would resend the Authorization header to wherever they point."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class Response:
    status: int
    body: str
    attempts: int

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def request_json(
    method: str,
    url: str,
    body: Any | None,
    headers: Mapping[str, str],
    *,
    timeout: float,
    retries: int,
    backoff: float,
) -> Response:
    """Send one JSON request, retrying connection errors and retryable statuses with exponential backoff.

    Returns the final response (2xx or a final 4xx); raises ActionError when every attempt failed or the
    server answered with a redirect (never followed: the credentials must not travel to another address).
    """
    if urlsplit(url).scheme not in ("http", "https"):
        # urllib would also open file:// and ftp:// URLs; a misconfigured URL must not read local files.
        raise ActionError(f"{url!r} is not an http(s) URL")
    for name, value in headers.items():
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            # http.client would refuse it with the value in its message, which ends up in the run record.
            raise ActionError(f"header {name}: its value contains a line break or another control character")
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Accept": "application/json", "User-Agent": "perfbudget", **headers}
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    last = "no attempt"
    for attempt in range(1, retries + 2):
        request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
        delay = backoff * 2 ** (attempt - 1)
        try:
            with _OPENER.open(request, timeout=timeout) as reply:
                return Response(reply.status, reply.read().decode("utf-8", "replace"), attempt)
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                location = exc.headers.get("Location") or "no Location"
                raise ActionError(
                    f"{method} {url}: HTTP {exc.code} redirect to {location}: not followed "
                    "(credentials are never sent on to another address); configure the final URL"
                ) from None
            text = exc.read().decode("utf-8", "replace")
            if exc.code not in RETRYABLE:
                return Response(exc.code, text, attempt)
            last = f"HTTP {exc.code}: {text[:200]}"
            retry_after = exc.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = min(float(retry_after), MAX_RETRY_AFTER)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt <= retries:
            time.sleep(delay)
    raise ActionError(f"{method} {url} failed after {retries + 1} attempt(s): {last}")


def configured_secrets(config: Config) -> set[str]:
    """Secret values the exporter knows from its config: API tokens and the Grafana token."""
    found = {token.token.get_secret_value() for token in config.auth.tokens}
    if config.actions.grafana_token:
        found.add(config.actions.grafana_token)
    return found


def redact(headers: Mapping[str, str], secrets: Collection[str] = ()) -> dict[str, str]:
    """Headers as a preview may show them: credentials (by header name, or by value in `secrets`) replaced."""
    return {
        k: REDACTED if k.lower() in _SECRET_HEADERS or "token" in k.lower() or v in secrets else v
        for k, v in headers.items()
    }


def url_secrets(url: str) -> set[str]:
    """The parts of `url` to scrub from any text that quotes them: a password, path segments and query values
    that look like tokens, the values of credential-like query parameters (`token=`, `api_key=`, ...)."""
    parts = urlsplit(url)
    found = {parts.password} if parts.password else set()
    found |= {segment for segment in parts.path.split("/") if _TOKEN_LIKE.match(segment)}
    for name, _, value in (item.partition("=") for item in parts.query.split("&")):
        if value and (_TOKEN_LIKE.match(value) or _SECRET_PARAMETER.search(name)):
            found.add(value)
    return found


def redact_url(url: str, *, whole: bool = False) -> str:
    """`url` as a preview may show it: no credentials, every query value and each path segment that looks like
    a token replaced; `whole` (a URL from the environment, secret as a whole) keeps only scheme and host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = (f"{REDACTED}@" if parts.username or parts.password else "") + host + (f":{port}" if port else "")
    if whole:
        return urlunsplit((parts.scheme, netloc, f"/{REDACTED}" if parts.path.strip("/") or parts.query else "",
                           "", ""))
    path = "/".join(REDACTED if _TOKEN_LIKE.match(segment) else segment for segment in parts.path.split("/"))
    query = "&".join(f"{name}={REDACTED}" if sep else name
                     for name, sep, _ in (item.partition("=") for item in parts.query.split("&")) if name or sep)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def scrub(value: J, secrets: Collection[str]) -> J:
    """`value` (a string, or JSON built of dicts and lists) with every secret in it replaced."""
    if isinstance(value, str):
        for secret in secrets:
            if len(secret) >= _MIN_SCRUB_LENGTH:
                value = value.replace(secret, REDACTED)  # type: ignore[assignment]
        return value
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]  # type: ignore[return-value]
    return value


def scrub_outcome(outcome: ActionOutcome, secrets: Collection[str]) -> ActionOutcome:
    """An outcome whose texts (a response body that echoes a header, say) hold none of `secrets`."""
    return replace(
        outcome,
        summary=scrub(outcome.summary, secrets),
        changes=scrub(outcome.changes, secrets),
        errors=scrub(outcome.errors, secrets),
        details=scrub(outcome.details, secrets),
    )


def scrub_error(exc: Exception, secrets: Collection[str]) -> ActionError:
    """`exc` as an ActionError whose message holds none of `secrets` (the runner records the message)."""
    text = str(exc) if isinstance(exc, ActionError) else f"{type(exc).__name__}: {exc}"
    return ActionError(scrub(text, secrets))
