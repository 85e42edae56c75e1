"""The report as one self-contained HTML page: inline style, inline SVG charts (charts.py) drawn from the
answer's numbers, no script and nothing fetched from elsewhere."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from .charts import COLOURS, Line, Rule, bar_chart, line_chart

_ENV = Environment(loader=PackageLoader("perfbudget.analytics", "templates"), autoescape=select_autoescape(["html"]))


def _points(points: list[dict[str, Any]], key: str, scale: float = 1.0) -> list[tuple[float, str, float | None]]:
    return [(float(p["ts"]), str(p["t"]), None if p.get(key) is None else round(float(p[key]) * scale, 4))
            for p in points]


def vital_charts(data: dict[str, Any]) -> list[Markup]:
    """Per vital: p75 per step with its budget line (and Google's good threshold)."""
    out = []
    for name, entry in (data.get("series") or {}).get("vitals", {}).items():
        unit = "" if entry["unit"] == "score" else entry["unit"]
        rules = [Rule("good", float(entry["good"]), "reference")]
        if entry.get("budget"):
            rules.insert(0, Rule(f"budget {entry['budget']['name']}", float(entry["budget"]["target"])))
        out.append(Markup(line_chart(f"p75-{name}", f"{name} p75 per step", unit,
                                     [Line(f"{name} p75", _points(entry["points"], "p75"))], rules)))
    return out


def good_share_chart(data: dict[str, Any]) -> Markup:
    """Every vital's share of good page loads per step, in percent (75 %: the assessment's line)."""
    vitals = (data.get("series") or {}).get("vitals", {})
    lines = [Line(name, _points(entry["points"], "goodShare", 100.0), COLOURS[i % len(COLOURS)])
             for i, (name, entry) in enumerate(vitals.items())
             if any(p.get("goodShare") is not None for p in entry["points"])]
    return Markup(line_chart("good-share", "Good page loads per step", "%", lines,
                             [Rule("p75 passes at", 75.0, "reference")], y_max=100.0))


def api_charts(data: dict[str, Any]) -> list[Markup]:
    api = (data.get("series") or {}).get("api")
    if not api:
        return []
    points = api["points"]
    latency = line_chart("api-latency", "API response time per step", "ms",
                         [Line("mean", _points(points, "avgResponseTime")),
                          Line("p95", _points(points, "p95ResponseTime"), COLOURS[1])])
    errors = line_chart("api-errors", "API error rate per step", "%", [Line("5xx", _points(points, "errorRate"),
                                                                             COLOURS[1])])
    return [Markup(latency), Markup(errors)]


def outcomes_chart(data: dict[str, Any]) -> Markup | None:
    outcomes = data.get("playbookOutcomes")
    if not outcomes:
        return None
    bars: list[tuple[str, str, float | None]] = []
    for book in outcomes.get("playbooks", []):
        if book.get("runs"):
            for key in ("dryRuns", "executions", "succeeded"):
                bars.append((str(book["playbookId"]), key, float(book.get(key) or 0)))
    return Markup(bar_chart("outcomes", "Playbook runs, executions and successes", "", bars))


def render(data: dict[str, Any]) -> str:
    template = _ENV.get_template("report.html")
    return template.render(data=data, vital_charts=vital_charts(data), good_share=good_share_chart(data),
                           api_charts=api_charts(data), outcomes_chart=outcomes_chart(data))
