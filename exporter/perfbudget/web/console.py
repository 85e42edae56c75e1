"""`GET /`: the landing page and console. What the exporter is, its endpoints, and the last hour at a glance."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from .. import __version__
from ..app import services
from ..summary import parse_window
from ..vitals import VITALS

bp = Blueprint("console", __name__, template_folder="templates")

WINDOWS = ("5m", "1h", "6h", "1d", "7d")

ENDPOINTS = (
    ("POST", "/api/web-vitals", "beacons from web-vitals (one Metric object or an array)"),
    ("GET", "/api/web-vitals?window=1h", "p75 per vital with rating, target, trend, diagnosis and score"),
    ("GET", "/api/perf-fix", "the playbooks; POST runs one (dry run unless approved)"),
    ("GET", "/api/perf-fix/runs", "the audit log of playbook runs"),
    ("POST", "/api/alertmanager", "Alertmanager's webhook (bearer token)"),
    ("GET", "/metrics", "Prometheus exposition (OpenMetrics when asked)"),
    ("GET", "/beacon.js", "the client snippet to add beside the web-vitals library"),
    ("GET", "/-/healthy", "liveness"),
    ("GET", "/-/ready", "readiness"),
    ("POST", "/-/reload", "re-read the configuration (bearer token)"),
)


def _rows(state: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, entry in state["metrics"].items():
        vital = VITALS[name]
        unit = vital.display_unit
        rows.append({
            "name": name,
            "description": vital.description.split(":")[0],
            "value": "-" if entry["value"] is None else f"{entry['value']:g}{unit}",
            "target": f"{entry['target']:g}{unit}",
            "rating": entry["rating"] or "no-data",
            "samples": int(entry["samples"]),
            "good": "-" if entry["goodShare"] is None else f"{100 * entry['goodShare']:.1f} %",
            "trend": entry["trend"],
            "diagnosis": [
                (key, item["value"], item["count"])
                for key, items in (entry.get("diagnosis") or {}).items()
                for item in items[:2]
            ],
        })
    return rows


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    saved = run.get("bytesSaved")
    return {
        "id": run["id"],
        "playbook": run["playbookId"],
        "mode": run["mode"],
        "status": run["state"],
        "started": (run.get("startedAt") or run.get("createdAt") or "")[:19].replace("T", " "),
        "message": run["message"] + (f" ({saved / 1024:.0f} KiB)" if isinstance(saved, int) and saved > 0 else ""),
    }


@bp.get("/")
def index() -> str:
    state = services()
    window_text = request.args.get("window", "1h")
    if window_text not in WINDOWS:
        window_text = "1h"
    summary = state.summary.state(parse_window(window_text), None)
    runner = state.extras.get("runner")
    runs = [_run_row(runner.to_json(run, full=False)) for run in runner.store.recent(limit=10)] if runner else []
    return render_template(
        "console.html",
        version=__version__,
        window=window_text,
        windows=WINDOWS,
        rows=_rows(summary),
        score=summary["overallScore"],
        critical=summary["criticalIssues"],
        routes=state.routes.known_routes()[:50],
        runs=runs,
        endpoints=ENDPOINTS,
        beacon_url=request.host_url + "beacon.js",
    )
