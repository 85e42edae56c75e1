"""`webhook`: POST a JSON body to a configured URL (start a CI job, purge a CDN), at most once per run.

The run id travels as the `Idempotency-Key` header, so a receiver that honours it does the work once
even when a retry follows a lost response, or Alertmanager delivers the same alert twice.

The URL is shown redacted in every preview, result and error (no credentials, no query values, no path
segment that looks like a token); a URL that is a secret as a whole (Slack's, Discord's) belongs in the
environment (`url_from_env`), and then only its scheme and host are ever shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from .base import ActionContext, ActionError, ActionOutcome, ActionParams
from .http_json import (
    configured_secrets,
    redact,
    redact_url,
    request_json,
    scrub,
    scrub_outcome,
    url_secrets,
)


def _check_http(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{redact_url(value)!r} is not an http(s) URL")
    return value


class WebhookParams(ActionParams):
    # Exactly one of the two: the URL itself, or the environment variable that holds it (for secret URLs).
    url: str | None = None
    url_from_env: Annotated[str | None, Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = None
    # Merged into the body beside `runId` and `alertLabels`.
    payload: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    # Header name -> environment variable holding its value: secrets stay out of playbook files.
    headers_from_env: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return None if value is None else _check_http(value)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookParams:
        if (self.url is None) == (self.url_from_env is None):
            raise ValueError("give exactly one of url and url_from_env (the variable holding a secret URL)")
        return self


@dataclass(frozen=True)
class _Request:
    url: str | None  # None when url_from_env names a variable that is not set (or not an http(s) URL)
    shown: str  # the URL as previews, results and errors show it
    body: dict[str, Any]
    headers: dict[str, str]
    missing: list[str]
    secrets: set[str]  # every value from the environment, the config's tokens, the URL's secret parts

    def clean(self, text: str) -> str:
        """`text` with the URL shown redacted and every secret scrubbed."""
        return scrub(text.replace(self.url, self.shown) if self.url else text, self.secrets)


def _request(ctx: ActionContext, params: WebhookParams) -> _Request:
    body = {**params.payload, "runId": ctx.run_id, "alertLabels": dict(ctx.alert_labels)}
    if ctx.config.actions.external_url:
        body.setdefault("runUrl", f"{ctx.config.actions.external_url.rstrip('/')}/api/perf-fix/runs/{ctx.run_id}")
    headers = {**params.headers, "Idempotency-Key": ctx.run_id}
    missing = []
    secrets = configured_secrets(ctx.config)
    url = params.url
    shown = redact_url(url) if url is not None else f"${params.url_from_env}"
    if params.url_from_env is not None:
        url = os.environ.get(params.url_from_env)
        if url is None:
            missing.append(f"url: environment variable {params.url_from_env} is not set")
        else:
            secrets |= {url, url.partition("://")[2]}
            try:
                _check_http(url)
                shown = redact_url(url, whole=True)
            except ValueError:
                missing.append(f"url: environment variable {params.url_from_env} does not hold an http(s) URL")
                url = None
    if url is not None:
        secrets |= url_secrets(url)
    for header, variable in params.headers_from_env.items():
        value = os.environ.get(variable)
        if value is None:
            missing.append(f"header {header}: environment variable {variable} is not set")
        else:
            headers[header] = value
            secrets.add(value)
    return _Request(url, shown, body, headers, missing, secrets)


class WebhookAction:
    name = "webhook"
    Params = WebhookParams

    def preview(self, ctx: ActionContext, params: WebhookParams) -> ActionOutcome:
        req = _request(ctx, params)
        return scrub_outcome(ActionOutcome(
            f"would POST {len(str(req.body))} characters of JSON to {req.shown}",
            [{"method": "POST", "url": req.shown}],
            errors=req.missing,
            details={
                "body": req.body,
                "headers": redact(req.headers, req.secrets),
                "retries": params.retries,
                "timeoutSeconds": params.timeout_seconds,
            },
        ), req.secrets)

    def apply(self, ctx: ActionContext, params: WebhookParams) -> ActionOutcome:
        req = _request(ctx, params)
        if req.missing or req.url is None:
            raise ActionError("; ".join(req.missing))
        try:
            response = request_json(
                "POST",
                req.url,
                req.body,
                req.headers,
                timeout=params.timeout_seconds,
                retries=params.retries,
                backoff=params.backoff_seconds,
            )
            if not 200 <= response.status < 300:
                raise ActionError(f"POST {req.shown}: HTTP {response.status}: {response.body[:200]}")
        except Exception as exc:  # its message is recorded: a receiver may echo the secret back
            text = str(exc) if isinstance(exc, ActionError) else f"{type(exc).__name__}: {exc}"
            raise ActionError(req.clean(text)) from None
        return scrub_outcome(ActionOutcome(
            f"POST {req.shown}: HTTP {response.status} after {response.attempts} attempt(s)",
            [{"method": "POST", "url": req.shown, "status": response.status}],
            details={"response": req.clean(response.body[:2000]), "attempts": response.attempts},
        ), req.secrets)

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        return ActionOutcome("a delivered webhook cannot be recalled: nothing rolled back")


KIND = WebhookAction()
