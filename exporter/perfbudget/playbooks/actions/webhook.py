"""`webhook`: POST a JSON body to a configured URL (start a CI job, purge a CDN), at most once per run.

The run id travels as the `Idempotency-Key` header, so a receiver that honours it does the work once
even when a retry follows a lost response, or Alertmanager delivers the same alert twice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from .base import ActionContext, ActionError, ActionOutcome, ActionParams
from .http_json import configured_secrets, redact, request_json, scrub_error, scrub_outcome


class WebhookParams(ActionParams):
    url: str
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
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


def _request(ctx: ActionContext, params: WebhookParams) -> tuple[dict[str, Any], dict[str, str], list[str], set[str]]:
    """Body, headers, missing variables, and the secret values (every one from `headers_from_env`)."""
    body = {**params.payload, "runId": ctx.run_id, "alertLabels": dict(ctx.alert_labels)}
    if ctx.config.actions.external_url:
        body.setdefault("runUrl", f"{ctx.config.actions.external_url.rstrip('/')}/api/perf-fix/runs/{ctx.run_id}")
    headers = {**params.headers, "Idempotency-Key": ctx.run_id}
    missing = []
    secrets = configured_secrets(ctx.config)
    for header, variable in params.headers_from_env.items():
        value = os.environ.get(variable)
        if value is None:
            missing.append(f"header {header}: environment variable {variable} is not set")
        else:
            headers[header] = value
            secrets.add(value)
    return body, headers, missing, secrets


class WebhookAction:
    name = "webhook"
    Params = WebhookParams

    def preview(self, ctx: ActionContext, params: WebhookParams) -> ActionOutcome:
        body, headers, missing, secrets = _request(ctx, params)
        return scrub_outcome(ActionOutcome(
            f"would POST {len(str(body))} characters of JSON to {params.url}",
            [{"method": "POST", "url": params.url}],
            errors=missing,
            details={
                "body": body,
                "headers": redact(headers, secrets),
                "retries": params.retries,
                "timeoutSeconds": params.timeout_seconds,
            },
        ), secrets)

    def apply(self, ctx: ActionContext, params: WebhookParams) -> ActionOutcome:
        body, headers, missing, secrets = _request(ctx, params)
        if missing:
            raise ActionError("; ".join(missing))
        try:
            response = request_json(
                "POST",
                params.url,
                body,
                headers,
                timeout=params.timeout_seconds,
                retries=params.retries,
                backoff=params.backoff_seconds,
            )
            if not 200 <= response.status < 300:
                raise ActionError(f"POST {params.url}: HTTP {response.status}: {response.body[:200]}")
        except Exception as exc:  # its message is recorded: a receiver may echo the secret back
            raise scrub_error(exc, secrets) from None
        return scrub_outcome(ActionOutcome(
            f"POST {params.url}: HTTP {response.status} after {response.attempts} attempt(s)",
            [{"method": "POST", "url": params.url, "status": response.status}],
            details={"response": response.body[:2000], "attempts": response.attempts},
        ), secrets)

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        return ActionOutcome("a delivered webhook cannot be recalled: nothing rolled back")


KIND = WebhookAction()
