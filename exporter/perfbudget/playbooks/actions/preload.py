"""`preload`: `<link rel="preload" fetchpriority="high">` hints for the images LCP attribution names most.

The browser finds an LCP image late when CSS or script inserts it; a preload in the `<head>` starts
the download with the HTML. Preloading an image that is rarely the LCP element wastes bandwidth the
real one needs, so only images that were the LCP resource in at least `min_share` of reports qualify.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from .atomic import new_manifest
from .atomic import rollback as undo_writes
from .base import ActionContext, ActionOutcome, ActionParams, alert_route
from .hrefs import site_href
from .paths import output_dir

SNIPPET_NAME = "preload-hints.html"


class PreloadParams(ActionParams):
    # Routes to write hints for; the alert's route when empty (all routes together without one).
    routes: tuple[str, ...] = ()
    # Hints per route: more than one or two high-priority preloads compete with each other.
    top: Annotated[int, Field(ge=1, le=5)] = 1
    min_share: Annotated[float, Field(ge=0, le=1)] = 0.1
    # Only images the site hosts (the URL's path is a file in the allowed directories). Either way, a hint
    # names only a path of the site or a URL on actions.asset_origins (hrefs.site_href): the URLs come from
    # anonymous beacons, and a hint must never send every visitor's browser to a host someone forged.
    only_hosted: bool = True
    # Directory (inside an allowed dir) for the snippet file; the run's directory when unset.
    output_dir: str | None = None


def _candidates(
    ctx: ActionContext, params: PreloadParams, ranked: list[tuple[str, int]]
) -> tuple[list[tuple[str, int]], list[dict[str, Any]], list[dict[str, str]]]:
    """(href, reports) most reported first, the URLs refused with why, and those written as a site path.

    URLs that come to the same href (`https://shop.example/a.jpg`, `/a.jpg`) are one image: counted together.
    """
    counts: dict[str, int] = {}
    refused: list[dict[str, Any]] = []
    rewritten: list[dict[str, str]] = []
    for url, count in ranked:
        href = site_href(url, ctx, hosted=params.only_hosted)
        if href.href is None:
            refused.append({"url": url, "reports": count, "reason": href.refused})
            continue
        if href.rewritten:
            rewritten.append({"url": url, "href": href.href})
        counts[href.href] = counts.get(href.href, 0) + count
    return sorted(counts.items(), key=lambda item: -item[1]), refused, rewritten


def _hints(ctx: ActionContext, params: PreloadParams) -> tuple[list[dict[str, Any]], str]:
    routes: list[str | None] = list(params.routes) or [alert_route(ctx, None)]
    changes: list[dict[str, Any]] = []
    lines = ["<!-- LCP preload hints from perfbudget: put each route's links in that page's <head>. -->"]
    for route in routes:
        ranked = list(ctx.attribution("lcp.url", route))
        total = sum(count for _, count in ranked)
        label = route or "all routes"
        candidates, refused, rewritten = _candidates(ctx, params, ranked)
        chosen = [(href, count) for href, count in candidates if total and count / total >= params.min_share]
        chosen = chosen[: params.top]
        notes: dict[str, Any] = {"refused": refused} if refused else {}
        if rewritten:
            notes["writtenAsSitePath"] = rewritten
        if not chosen:
            note = f"no LCP image the site serves reaches {params.min_share:.0%}"
            if refused:
                note += "; refused: " + ", ".join(f"{r['url']} ({r['reason']})" for r in refused[:3])
            changes.append({"route": label, "hints": [], "note": note, **notes})
            continue
        lines.append(f"<!-- route: {html.escape(label)} ({total:,} LCP reports with a resource) -->")
        hints = []
        for href, count in chosen:
            link = f'<link rel="preload" as="image" href="{html.escape(href, quote=True)}" fetchpriority="high">'
            lines.append(link)
            hints.append({"url": href, "reports": count, "share": round(count / total, 3), "link": link})
        changes.append({"route": label, "hints": hints, **notes})
    return changes, "\n".join(lines) + "\n"


class PreloadAction:
    name = "preload"
    Params = PreloadParams

    def preview(self, ctx: ActionContext, params: PreloadParams) -> ActionOutcome:
        changes, snippet = _hints(ctx, params)
        path = output_dir(ctx, params.output_dir, self.name) / SNIPPET_NAME
        count = sum(len(c["hints"]) for c in changes)
        return ActionOutcome(
            f"{count} preload hint(s) for {len(changes)} route(s) would be written to {path}",
            changes,
            details={"snippet": snippet if count else "", "path": str(path)},
        )

    def apply(self, ctx: ActionContext, params: PreloadParams) -> ActionOutcome:
        changes, snippet = _hints(ctx, params)
        count = sum(len(c["hints"]) for c in changes)
        path = output_dir(ctx, params.output_dir, self.name) / SNIPPET_NAME
        if not count:
            return ActionOutcome("no LCP image qualifies for a preload: nothing written", changes)
        manifest = new_manifest(ctx, self.name)
        done = manifest.put(path, snippet.encode())
        return ActionOutcome(
            f"{count} preload hint(s) {done if done != 'unchanged' else 'already'} in {path}",
            changes,
            details={"snippet": snippet, "path": str(path), "file": done},
            manifest=manifest.to_json(),
        )

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        return undo_writes(ctx, manifest)


KIND = PreloadAction()
