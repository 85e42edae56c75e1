"""`grafana-annotation`: mark the run on the dashboards through Grafana's `POST /api/annotations`.

Authenticates with a service-account token (config `actions.grafana_token`, sent as a bearer token).
The annotation carries the run's tags and a link back to the run; rollback deletes it.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from .base import ActionContext, ActionError, ActionOutcome, ActionParams
from .http_json import configured_secrets, redact, request_json, scrub_error, scrub_outcome

# Alert labels worth a tag: bounded values people filter dashboards by.
LABEL_TAGS = ("alertname", "route", "device", "severity", "metric")


class GrafanaAnnotationParams(ActionParams):
    tags: tuple[str, ...] = ("perfbudget",)
    text: str | None = None
    # Limit the annotation to one dashboard (and panel); organisation-wide when unset.
    dashboard_uid: str | None = None
    panel_id: Annotated[int, Field(ge=0)] | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    backoff_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0


def _endpoint(ctx: ActionContext) -> tuple[str, dict[str, str]]:
    actions = ctx.config.actions
    if not actions.grafana_url or not actions.grafana_token:
        raise ActionError("grafana-annotation needs actions.grafana_url and actions.grafana_token in the config")
    return actions.grafana_url.rstrip("/"), {"Authorization": f"Bearer {actions.grafana_token}"}


def _body(ctx: ActionContext, params: GrafanaAnnotationParams, now_ms: int) -> dict[str, Any]:
    tags = [*params.tags, f"run:{ctx.run_id}"]
    tags += [f"{k}:{ctx.alert_labels[k]}" for k in LABEL_TAGS if ctx.alert_labels.get(k)]
    text = html.escape(params.text or f"perfbudget playbook run {ctx.run_id}")
    if ctx.config.actions.external_url:
        link = f"{ctx.config.actions.external_url.rstrip('/')}/api/perf-fix/runs/{ctx.run_id}"
        text += f' <a href="{html.escape(link, quote=True)}">run details</a>'
    body: dict[str, Any] = {"time": now_ms, "tags": list(dict.fromkeys(tags)), "text": text}
    if params.dashboard_uid:
        body["dashboardUID"] = params.dashboard_uid
    if params.panel_id is not None:
        body["panelId"] = params.panel_id
    return body


class GrafanaAnnotationAction:
    name = "grafana-annotation"
    Params = GrafanaAnnotationParams

    def preview(self, ctx: ActionContext, params: GrafanaAnnotationParams) -> ActionOutcome:
        try:
            base, headers = _endpoint(ctx)
        except ActionError as exc:
            return ActionOutcome("would not annotate: Grafana is not configured", errors=[str(exc)])
        body = _body(ctx, params, int(time.time() * 1000))
        secrets = configured_secrets(ctx.config)
        return scrub_outcome(ActionOutcome(
            f"would add an annotation tagged {', '.join(body['tags'])} in {base}",
            [{"method": "POST", "url": f"{base}/api/annotations"}],
            details={"body": body, "headers": redact(headers, secrets)},
        ), secrets)

    def apply(self, ctx: ActionContext, params: GrafanaAnnotationParams) -> ActionOutcome:
        secrets = configured_secrets(ctx.config)
        try:
            return scrub_outcome(self._apply(ctx, params), secrets)
        except Exception as exc:  # its message is recorded: the token must never reach the run record
            raise scrub_error(exc, secrets) from None

    def _apply(self, ctx: ActionContext, params: GrafanaAnnotationParams) -> ActionOutcome:
        base, headers = _endpoint(ctx)
        body = _body(ctx, params, int(time.time() * 1000))
        response = request_json(
            "POST",
            f"{base}/api/annotations",
            body,
            headers,
            timeout=params.timeout_seconds,
            retries=params.retries,
            backoff=params.backoff_seconds,
        )
        if response.status != 200:
            raise ActionError(f"Grafana refused the annotation: HTTP {response.status}: {response.body[:200]}")
        answer = response.json()
        annotation = answer.get("id") if isinstance(answer, dict) else None
        return ActionOutcome(
            f"annotation {annotation} added in {base}",
            [{"method": "POST", "url": f"{base}/api/annotations", "annotationId": annotation}],
            details={"body": body},
            manifest={"version": 1, "kind": self.name, "annotationId": annotation} if annotation else None,
        )

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        secrets = configured_secrets(ctx.config)
        try:
            return scrub_outcome(self._rollback(ctx, manifest), secrets)
        except Exception as exc:
            raise scrub_error(exc, secrets) from None

    def _rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        annotation = manifest.get("annotationId")
        if not isinstance(annotation, int):
            raise ActionError(f"manifest has no annotation id: {manifest!r}")
        base, headers = _endpoint(ctx)
        response = request_json(
            "DELETE", f"{base}/api/annotations/{annotation}", None, headers, timeout=10.0, retries=2, backoff=1.0
        )
        if response.status == 404:
            return ActionOutcome(f"annotation {annotation} was already gone")
        if response.status != 200:
            raise ActionError(f"Grafana refused to delete annotation {annotation}: HTTP {response.status}")
        return ActionOutcome(f"annotation {annotation} deleted", [{"annotationId": annotation, "action": "deleted"}])


KIND = GrafanaAnnotationAction()
