"""A small JSON-over-HTTP client for the webhook and Grafana kinds: timeouts, bounded retries, no deps."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .base import ActionError

# Statuses worth another attempt: the server is overloaded or briefly broken; any other 4xx is final.
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 30.0


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

    Returns the final response (2xx or a final 4xx); raises ActionError when every attempt failed.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        # urllib would also open file:// and ftp:// URLs; a misconfigured URL must not read local files.
        raise ActionError(f"{url!r} is not an http(s) URL")
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Accept": "application/json", "User-Agent": "perfbudget", **headers}
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    last = "no attempt"
    for attempt in range(1, retries + 2):
        request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
        delay = backoff * 2 ** (attempt - 1)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return Response(reply.status, reply.read().decode("utf-8", "replace"), attempt)
        except urllib.error.HTTPError as exc:
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


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers as a preview may show them: credentials replaced."""
    secret = {"authorization", "proxy-authorization", "cookie", "x-api-key"}
    return {k: ("<redacted>" if k.lower() in secret or "token" in k.lower() else v) for k, v in headers.items()}
