"""`js-audit`: raw, gzip and brotli sizes of the JavaScript bundles against a budget, and INP's suspects.

Bytes are not INP, but every kilobyte of script is parsed, compiled and usually run on the main thread,
and the scripts INP attribution names as the longest during slow interactions are where to look first.
The audit changes nothing; apply reports the same numbers, so a run records them.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import brotli
from pydantic import Field

from .base import ActionContext, ActionOutcome, ActionParams, alert_route
from .paths import allowed_dirs, display, roots, url_to_file, walk


class JsAuditParams(ActionParams):
    dirs: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = (".js", ".mjs")
    # Total budget for all bundles, in `compression` bytes (what the network carries).
    budget_bytes: Annotated[int, Field(ge=1)] = 300_000
    compression: Literal["raw", "gzip", "brotli"] = "brotli"
    # Levels a build pipeline uses for precompressed static files.
    gzip_level: Annotated[int, Field(ge=1, le=9)] = 9
    brotli_quality: Annotated[int, Field(ge=0, le=11)] = 11
    route: str | None = None
    top: Annotated[int, Field(ge=1, le=50)] = 5


def _audit(ctx: ActionContext, params: JsAuditParams) -> ActionOutcome:
    dirs = allowed_dirs(ctx)
    files, errors = walk(ctx, roots(ctx, params.dirs), params.suffixes)
    files = files[: ctx.config.actions.max_files_per_run]
    changes: list[dict[str, Any]] = []
    totals = {"raw": 0, "gzip": 0, "brotli": 0}
    for path in files:
        data = path.read_bytes()
        sizes = {
            "raw": len(data),
            # mtime=0: the size must not depend on when the audit ran.
            "gzip": len(gzip.compress(data, params.gzip_level, mtime=0)),
            "brotli": len(brotli.compress(data, quality=params.brotli_quality)),
        }
        for key, value in sizes.items():
            totals[key] += value
        changes.append({"path": display(path, dirs), **sizes})
    changes.sort(key=lambda c: -int(c[params.compression]))
    measured = totals[params.compression]
    route = alert_route(ctx, params.route)
    suspects = []
    for url, count in list(ctx.attribution("inp.script", route))[: params.top]:
        file = url_to_file(url, dirs)
        entry: dict[str, Any] = {"script": url, "reports": count, "path": display(file, dirs) if file else None}
        if file is not None:
            entry.update(next((c for c in changes if c["path"] == entry["path"]), {}))
        suspects.append(entry)
    over = measured - params.budget_bytes
    verdict = f"{over:,} bytes over" if over > 0 else f"{-over:,} bytes under"
    summary = (
        f"{len(files)} script(s): {totals['raw']:,} raw, {totals['gzip']:,} gzip, {totals['brotli']:,} brotli; "
        f"{verdict} the {params.compression} budget of {params.budget_bytes:,}"
    )
    details = {
        "totals": totals,
        "budgetBytes": params.budget_bytes,
        "compression": params.compression,
        "overBudget": over > 0,
        "inpScripts": suspects,
        "route": route,
    }
    return ActionOutcome(summary, changes, errors=errors, details=details)


class JsAuditAction:
    name = "js-audit"
    Params = JsAuditParams

    def preview(self, ctx: ActionContext, params: JsAuditParams) -> ActionOutcome:
        return _audit(ctx, params)

    def apply(self, ctx: ActionContext, params: JsAuditParams) -> ActionOutcome:
        outcome = _audit(ctx, params)
        outcome.summary = "audit only, nothing changed: " + outcome.summary
        return outcome

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        return ActionOutcome("js-audit changes nothing: nothing to roll back")


KIND = JsAuditAction()
