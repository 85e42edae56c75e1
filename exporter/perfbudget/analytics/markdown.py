"""The report as Markdown: the same sections as the HTML page, tables instead of charts."""

from __future__ import annotations

from typing import Any

UNITS = {"avgResponseTime": " ms", "peakResponseTime": " ms", "errorRate": " %", "uptime": " %"}


def _cell(value: Any) -> str:
    """A table cell: no line breaks, pipes escaped, and no HTML (attribution values come from beacons)."""
    if value is None:
        return "n/a"
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def render(data: dict[str, Any]) -> str:
    r = data["range"]
    lines = [f"# perfbudget report: the last {data['timeRange']}", "",
             f"{r['start']} to {r['end']} (UTC), from {data['source']}, generated {data['generatedAt']}.", ""]
    for section, why in data.get("unavailable", {}).items():
        lines.append(f"> **{section} unavailable:** {why}")
    lines += ["", "## Service", "", "| " + " | ".join(data["metrics"]) + " |",
              "|" + "---|" * len(data["metrics"]),
              "| " + " | ".join(_cell(v) + (UNITS.get(k, "") if v is not None else "")
                                for k, v in data["metrics"].items()) + " |", "",
              "Trends (" + data["trendsBasis"] + "): " + ", ".join(f"{k} **{_cell(v)}**"
                                                                 for k, v in data["trends"].items()), "",
              "## Recommendations", ""]
    if data["recommendations"]:
        lines += ["| priority | recommendation | impact | effort | previewed bytes saved |", "|---|---|---|---|---|"]
        for rec in data["recommendations"]:
            saved = (rec.get("previewedSavings") or {}).get("bytesSaved")
            lines.append(f"| {rec['priority']} | **{_cell(rec['title'])}**: {_cell(rec['description'])} | "
                         f"{_cell(rec['impact'])} | {_cell(rec['effort'])} | {_cell(saved)} |")
    else:
        lines.append("No budget was over its target over the range.")
    lines += ["", f"Priority: {data['priorityRule']}.", "", "## Web Vitals", "",
              "| route | vital | p75 | good | samples | budget | verdict | trend |",
              "|---|---|---|---|---|---|---|---|"]
    rows = [("all routes", data["webVitals"]["overall"]), *data["webVitals"]["routes"].items()]
    for route, vitals in rows:
        for name, v in vitals.items():
            unit = "" if v["unit"] == "score" else f" {v['unit']}"
            share = "n/a" if v["goodShare"] is None else f"{v['goodShare'] * 100:.1f} %"
            budget = f"{v['budget']['name']} {v['budget']['target']:g}{unit}" if v["budget"] else "none"
            verdict = {False: "**over budget**", True: "within budget", None: "no budget"}[v["withinBudget"]]
            lines.append(f"| {_cell(route)} | {name} | {_cell(v['p75'])}{unit} | {share} | {v['samples']} | "
                         f"{budget} | {verdict} | {_cell(v['trend'])} |")
    lines += ["", "### p75 per step", ""]
    for name, entry in data["series"]["vitals"].items():
        shown = [f"{p['t'][5:16]} {p['p75']:g}" for p in entry["points"] if p["p75"] is not None]
        lines.append(f"- {name}: " + (", ".join(shown) if shown else "no data"))
    lines += ["", "## Playbook outcomes", ""]
    outcomes = data.get("playbookOutcomes")
    if outcomes:
        lines += ["| playbook | runs | executions | success rate | bytes saved | outcome |",
                  "|---|---|---|---|---|---|"]
        for book in outcomes.get("playbooks", []):
            if book.get("runs"):
                rate = book.get("successRate")
                lines.append(f"| {book['playbookId']} | {book['runs']} | {book['executions']} | "
                             f"{'n/a' if rate is None else f'{rate * 100:.0f} %'} | {_cell(book.get('bytesSaved'))} | "
                             f"{_cell(book.get('summary'))} |")
    else:
        lines.append("No outcomes in this report.")
    return "\n".join(lines) + "\n"
