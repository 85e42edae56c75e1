"""`manual`: advice a person must carry out ("split long tasks"), shown with the evidence for it.

Never automated: apply does nothing and says so, so an execute run lists it as pending for a person.
The evidence is the attribution top-K (which elements, URLs and scripts the beacons blame).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from .base import ActionContext, ActionOutcome, ActionParams, alert_route

Evidence = Literal["lcp.url", "lcp.target", "inp.target", "inp.script", "cls.target"]


class ManualParams(ActionParams):
    steps: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: tuple[Evidence, ...] = ()
    top: Annotated[int, Field(ge=1, le=50)] = 5
    route: str | None = None
    # Documentation for the steps (web.dev articles, internal runbooks).
    links: tuple[str, ...] = ()


def _guidance(ctx: ActionContext, params: ManualParams) -> ActionOutcome:
    route = alert_route(ctx, params.route)
    evidence = {
        kind: [{"value": v, "reports": n} for v, n in list(ctx.attribution(kind, route))[: params.top]]
        for kind in params.evidence
    }
    changes: list[dict[str, Any]] = [{"step": i, "text": step} for i, step in enumerate(params.steps, 1)]
    blamed = next((items[0]["value"] for items in evidence.values() if items), None)
    summary = f"{len(params.steps)} manual step(s) for a person" + (f"; most blamed: {blamed}" if blamed else "")
    details = {
        "steps": list(params.steps),
        "evidence": evidence,
        "route": route,
        "links": list(params.links),
        "automated": False,
    }
    return ActionOutcome(summary, changes, details=details)


class ManualAction:
    name = "manual"
    Params = ManualParams

    def preview(self, ctx: ActionContext, params: ManualParams) -> ActionOutcome:
        return _guidance(ctx, params)

    def apply(self, ctx: ActionContext, params: ManualParams) -> ActionOutcome:
        outcome = _guidance(ctx, params)
        outcome.summary = "manual action, nothing done automatically: " + outcome.summary
        return outcome

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        return ActionOutcome("manual action: nothing was done, nothing to roll back")


KIND = ManualAction()
