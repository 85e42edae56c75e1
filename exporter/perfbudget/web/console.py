"""`GET /`: the landing page and console. What the exporter is, its endpoints, and the last hour at a glance.

Runs are shown as an anonymous reader may see them (`web/public.py`): no secrets, addresses or internals.
Every answer here carries a Content-Security-Policy that allows only this server's own script and style
(`/console.js`, `/console.css`, no inline code), may not be framed, is never sniffed as another type, and
sends no referrer to other origins.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, render_template, request

from .. import __version__
from ..playbooks import Runner
from ..playbooks.actions.paths import NEEDS_SITE_ROOT, needs_site_root
from ..playbooks.records import Run, iso
from ..routes import RouteNormalizer
from ..summary import SummaryService, parse_window
from ..vitals import VITALS
from .auth import requires_read
from .outcomes import console_rows
from .public import Redactor

bp = Blueprint("console", __name__, template_folder="templates")
_KEY = "perfbudget.console"


@dataclass(frozen=True)
class _Console:
    summary: SummaryService
    routes: RouteNormalizer
    runner: Runner


def init_app(app: Flask, summary: SummaryService, routes: RouteNormalizer, runner: Runner) -> None:
    app.extensions[_KEY] = _Console(summary, routes, runner)
    app.register_blueprint(bp)


#: Only this server's own script, style and images; no inline code, no plugins, no framing, no form posts
#: elsewhere. The console's script talks to this server only (connect-src).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@bp.after_request
def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@functools.cache
def _static(name: str) -> bytes:
    return resources.files("perfbudget.web").joinpath(f"static/{name}").read_bytes()


@bp.get("/console.js")
def console_js() -> Response:
    return Response(_static("console.js"), mimetype="text/javascript", headers={"Cache-Control": "no-cache"})


@bp.get("/console.css")
def console_css() -> Response:
    return Response(_static("console.css"), mimetype="text/css", headers={"Cache-Control": "no-cache"})


@bp.get("/favicon.svg")
@bp.get("/favicon.ico")  # what a browser asks for on any page of ours (/metrics, the JSON), link or not
def favicon() -> Response:
    return Response(_static("favicon.svg"), mimetype="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

WINDOWS = ("5m", "1h", "6h", "1d", "7d")

ENDPOINTS = (
    ("POST", "/api/web-vitals", "beacons from web-vitals (one Metric object or an array)"),
    ("GET", "/api/web-vitals?window=1h", "p75 per vital with its budget verdict, rating, trend, diagnosis and score"),
    ("GET", "/api/perf-fix", "the playbooks; POST runs one (dry run unless approved)"),
    ("GET", "/api/perf-fix/runs", "the audit log of playbook runs"),
    ("GET", "/api/perf-fix/outcomes", "fix outcomes per playbook: success rate, time to resolution, before/after, ROI"),
    ("POST", "/api/alertmanager", "Alertmanager's webhook (bearer token)"),
    ("GET", "/metrics", "Prometheus exposition (OpenMetrics when asked)"),
    ("GET", "/beacon.js", "the client snippet to add beside the web-vitals library"),
    ("GET", "/-/healthy", "liveness"),
    ("GET", "/-/ready", "readiness"),
    ("POST", "/-/reload", "re-read the configuration (bearer token)"),
)


#: The budget verdict in words and its colour class, from `withinBudget` (None: no data or no budget).
_VERDICTS = {True: ("within budget", "within"), False: ("over budget", "over")}


def _verdict(entry: dict[str, Any]) -> tuple[str, str]:
    if entry.get("withinBudget") is not None:
        return _VERDICTS[entry["withinBudget"]]
    return ("no data", "no-data") if entry["value"] is None else ("no budget", "no-data")


def _trend(entry: dict[str, Any], unit: str) -> str:
    if entry["trend"] == "unknown":
        return "unknown (no previous window)" if entry.get("previous") is None else "unknown"
    change = entry["value"] - entry["previous"]
    return f"{entry['trend']} ({change:+g}{unit})"


def _rows(state: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, entry in state["metrics"].items():
        vital = VITALS[name]
        unit = vital.display_unit
        verdict, verdict_class = _verdict(entry)
        budget = entry.get("budget")
        rows.append({
            "name": name,
            "verdict": verdict,
            "verdict_class": verdict_class,
            "budget_name": budget["name"] if budget else None,
            "description": vital.description.split(":")[0],
            "value": "-" if entry["value"] is None else f"{entry['value']:g}{unit}",
            # Under the budget's min_samples the p75 is shown as the bucket it falls in, not as if exact.
            "low_confidence": entry.get("confidence") == "low",
            "range": entry.get("rangeText"),
            "min_samples": entry.get("minSamples"),
            "target": f"{entry['target']:g}{unit}",
            "rating": entry["rating"] or "no-data",
            "samples": int(entry["samples"]),
            "good": "-" if entry["goodShare"] is None else f"{100 * entry['goodShare']:.1f} %",
            "trend": _trend(entry, unit),
            # Per device (the vitals a device budget names): the verdict of the budget that applies on it.
            "devices": [(item["device"], *_verdict(item), item["budget"]["name"] if item["budget"] else None,
                         "-" if item["value"] is None else f"{item['value']:g}{unit}")
                        for item in entry.get("devices", ())],
            "diagnosis": [
                (key, item["value"], item["count"])
                for key, items in (entry.get("diagnosis") or {}).items()
                for item in items[:2]
            ],
            "breakdown": _breakdown(entry.get("breakdown"), entry.get("suggestedFix")),
        })
    return rows


def _breakdown(parts: dict[str, Any] | None, fix: dict[str, Any] | None) -> dict[str, Any] | None:
    """LCP's subparts or INP's phases at p75 as the console draws them: a stacked bar (each part's width a CSS
    class in 5 % steps, so the page needs no inline style) and a table; the dominant part and the playbook it
    chose (summary_breakdown.part_fix)."""
    if not parts:
        return None
    items = []
    for index, part in enumerate(parts["parts"]):
        share = part["share"] or 0.0
        items.append({"index": index, "name": part["name"], "label": part["label"], "p75": f"{part['p75']:g} ms",
                      "share": f"{100 * share:.0f} %", "width": f"w{5 * round(20 * share)}",
                      "dominant": part["name"] == parts["dominant"]})
    cause = (fix or {}).get("cause")
    chosen = None
    if cause is not None and fix is not None:
        chosen = f"{fix['playbookId']}" + (f" ({cause['action']})" if cause.get("action") else "") + (
            f", longest script {cause['script']}" if cause.get("script") else "")
    return {"parts": items, "dominant": parts["dominant"].replace("_", " "), "samples": parts["samples"],
            "since_start": parts["counts"] != "window", "fix": chosen}


def _site_names(runner: Runner) -> tuple[str, ...]:
    """The site label's values the console offers (the configured sites and `other`), none without sites."""
    names = tuple(site.name for site in runner.config.sites)
    return (*names, "other") if names else ()


def _kib(value: Any) -> str | None:
    return f"{value / 1024:,.0f} KiB" if isinstance(value, int) else None


def _change_line(change: dict[str, Any]) -> str:
    if "text" in change:  # a manual step
        return f"{change.get('step', '-')}. {change['text']}"
    if "hints" in change:  # preload hints for a route
        hints = [hint.get("link", hint) if isinstance(hint, dict) else hint for hint in change["hints"]]
        return f"{change.get('route')}: " + ("; ".join(str(hint) for hint in hints) or change.get("note", "none"))
    name = change.get("source") or change.get("path") or change.get("file") or change.get("url") or "change"
    before = _kib(change.get("bytesBefore"))
    outputs = change.get("outputs")
    if before and isinstance(outputs, list):
        formats = sorted({str(o.get("format")) for o in outputs if isinstance(o, dict)})
        return f"{name} ({before}) -> {len(outputs)} files ({', '.join(formats)})"
    return f"{name} ({before})" if before else str(name)


def _run_row(run: Run, r: Redactor) -> dict[str, Any]:
    """A run as the console shows it: the summary line, and each action's preview or result, redacted."""
    actions = []
    for action in run.result.actions:
        outcome = action.result or action.preview or {}
        actions.append({
            "id": action.id,
            "kind": action.kind,
            "status": action.status,
            "summary": r.text(str(outcome.get("summary") or action.error or action.description)),
            "before": _kib(outcome.get("bytesBefore")),
            "after": _kib(outcome.get("bytesAfter")),
            "saved": _kib(outcome.get("bytesSaved")),
            "changes": [r.text(_change_line(change)) for change in (outcome.get("changes") or [])[:8]
                        if isinstance(change, dict)],
        })
    labels = run.trigger.get("labels") or {}
    return {
        "id": run.id,
        "playbook": run.playbook,
        "mode": run.mode,
        "status": run.state,
        # UTC, and said so: the audit log's time, the same for every reader.
        "started": _utc(iso(run.started_at) or iso(run.created_at)),
        "started_iso": iso(run.started_at) or iso(run.created_at) or "",
        "message": r.text(run.message),
        "saved": _kib(run.result.bytes_saved),
        "trigger": labels.get("alertname") or run.trigger.get("type", ""),
        "actions": actions,
        "pending": [r.text(f"{item.id}: {item.reason}") for item in run.result.pending_manual_actions],
    }


def _utc(stamp: str | None) -> str:
    return f"{stamp[:19].replace('T', ' ')} UTC" if stamp else ""


def _playbooks(runner: Runner) -> list[dict[str, Any]]:
    """The playbooks, each with whether it may execute and, when no site root is set, the actions it would
    skip for want of one (said before anyone clicks)."""
    config = runner.config
    allowed = set(config.playbooks.execute)
    no_site = not config.actions.allowed_dirs and config.site_root is None
    out = []
    for book in runner.playbooks.values():
        skipped = [action.id for action, params in zip(book.spec.actions, book.params, strict=True)
                   if no_site and needs_site_root(action.kind, params)]
        out.append({**book.spec.summary(), "executable": book.spec.id in allowed, "needs_site_root": skipped})
    return out


@bp.get("/")
@requires_read
def index() -> str:
    state = cast(_Console, current_app.extensions[_KEY])
    window_text = request.args.get("window", "1h")
    if window_text not in WINDOWS:
        window_text = "1h"
    runner = state.runner
    sites = _site_names(runner)
    site = request.args.get("site")
    site = site if site in sites else None  # the selector offers only these: anything else is every site
    summary = state.summary.state(parse_window(window_text), None, match={"site": site} if site else None)
    redactor = Redactor(runner.config)
    runs = [_run_row(run, redactor) for run in runner.store.recent(limit=10)]
    playbooks = _playbooks(runner)
    return render_template(
        "console.html",
        version=__version__,
        window=window_text,
        windows=WINDOWS,
        sites=sites,
        site=site,
        query=f"&site={site}" if site else "",
        rows=_rows(summary),
        score=summary["overallScore"],
        critical=summary["criticalIssueList"],
        budgets_met=summary["budgetsMet"],
        routes=state.routes.known_routes()[:50],
        runs=runs,
        outcomes=console_rows(current_app),
        playbooks=playbooks,
        endpoints=ENDPOINTS,
        base_url=request.host_url,
        refresh=runner.config.server.console_refresh_seconds,
        needs_site_root=NEEDS_SITE_ROOT,
    )
