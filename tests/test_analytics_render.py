"""The report's renderers: the HTML page is self-contained and its SVG charts are drawn from the answer's
numbers (each mark's data-value and position); the Markdown report has the same sections."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from perfbudget.analytics import html, markdown
from perfbudget.analytics.charts import Line, Rule, line_chart


@pytest.fixture
def answer(make_app: Callable[..., Flask], tmp_path: Path) -> dict[str, Any]:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("vitals:\n  - metric: LCP\n    name: lcp-site\n    target: 1750\n    severity: critical\n"
                       "    min_samples: 5\n  - metric: CLS\n    name: cls-site\n    target: 0.1\n")
    client = make_app(budgets_file=str(budgets)).test_client()
    batch = [{"name": name, "value": value, "delta": value, "id": f"{name}-{i}", "navigationType": "navigate",
              "pageUrl": "https://shop.test/cart"}
             for i in range(10) for name, value in (("LCP", 2000 + 30 * i), ("CLS", 0.02 * i))]
    posted = client.post("/api/web-vitals", data=json.dumps(batch), headers={"Content-Type": "text/plain"})
    assert posted.status_code == 200
    got = client.get("/api/performance-analytics?timeRange=1h")
    assert got.status_code == 200, got.json
    data: dict[str, Any] = got.get_json()["data"]
    return data


def _svgs(page: str) -> dict[str, ET.Element]:
    return {ET.fromstring(s).get("id", ""): ET.fromstring(s) for s in re.findall(r"<svg .*?</svg>", page, re.S)}


def _y(svg: ET.Element, value: float) -> float:
    top, height = float(svg.get("data-plot-top", 0)), float(svg.get("data-plot-height", 0))
    low, high = float(svg.get("data-y-min", 0)), float(svg.get("data-y-max", 1))
    return top + height * (1 - (value - low) / (high - low))


def test_each_vital_chart_draws_the_series_p75_and_its_budget_line(answer: dict[str, Any]) -> None:
    charts = _svgs(html.render(answer))
    for name in ("LCP", "CLS"):
        series = answer["series"]["vitals"][name]
        svg = charts[f"p75-{name}"]
        drawn = [(float(c.get("data-ts", 0)), float(c.get("data-value", 0)), float(c.get("cy", 0)))
                 for c in svg.iter("circle")]
        expected = [(p["ts"], p["p75"]) for p in series["points"] if p["p75"] is not None]
        assert [(t, v) for t, v, _ in drawn] == expected and expected
        for _, value, cy in drawn:
            assert cy == pytest.approx(_y(svg, value), abs=0.01)
        budget = next(line for line in svg.iter("line") if line.get("class") == "budget")
        assert float(budget.get("data-value", 0)) == series["budget"]["target"]
        assert float(budget.get("y1", 0)) == pytest.approx(_y(svg, series["budget"]["target"]), abs=0.01)


def test_the_page_is_self_contained(answer: dict[str, Any]) -> None:
    page = html.render(answer)
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", page)
    assert "<svg" in page and "Optimize images: LCP over budget on /cart" in page


def test_markdown_has_the_same_sections(answer: dict[str, Any]) -> None:
    text = markdown.render(answer)
    for heading in ("## Service", "## Recommendations", "## Web Vitals", "## Playbook outcomes"):
        assert heading in text
    assert "| /cart | LCP |" in text and "**over budget**" in text


def test_a_gap_in_a_series_breaks_its_line_and_a_rule_above_the_scale_is_not_drawn() -> None:
    points = [(0.0, "t0", 1.0), (1.0, "t1", None), (2.0, "t2", 2.0), (3.0, "t3", 3.0)]
    svg = ET.fromstring(line_chart("c", "c", "ms", [Line("x", points)], [Rule("far", 1e6)], y_max=10.0))
    assert len(list(svg.iter("circle"))) == 3
    assert [p.get("points", "").count(",") for p in svg.iter("polyline")] == [2]
    assert not [line for line in svg.iter("line") if line.get("class") == "budget"]


def test_what_beacons_report_is_text_in_both_formats(answer: dict[str, Any]) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    answer["recommendations"][0]["description"] += hostile
    answer["webVitals"]["routes"][hostile] = answer["webVitals"]["routes"]["/cart"]
    for page in (html.render(answer), markdown.render(answer)):
        assert hostile not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
