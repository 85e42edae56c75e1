"""The Web Vitals dashboard's budget lines, evaluated by a real Prometheus on the generated recording rules
over a real exporter's beacons: unfiltered every LCP budget is drawn, filtered to a route only the budget
that owns it (the one whose alert would fire there)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from perfbudget.budgets import naming
from perfbudget.budgets.dashboards import dashboards, panels_with_targets
from perfbudget.budgets.generate import generate_files, write
from perfbudget.budgets.model import load_budgets
from perfbudget.vitals import VITALS

from .stack import Server, beacon, exporter, http, prom_query, prometheus, wait_for

pytestmark = pytest.mark.integration

BUDGETS: dict[str, Any] = {"vitals": [
    {"metric": "LCP", "target": 2500},
    {"metric": "LCP", "name": "lcp-slow-pages", "route": "/slow.*", "target": 3000},
]}
GENERAL = "budget lcp (p75 2.5s, every route and device)"
SLOW = "budget lcp-slow-pages (p75 3s, route /slow.*)"


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("dashboard-budgets")
    budgets_file = tmp / "budgets.yaml"
    budgets_file.write_text(yaml.safe_dump(BUDGETS))
    budgets = load_budgets(budgets_file, env={})
    out = tmp / "out"
    write(generate_files(budgets, "test"), out)
    panel = next(p for p in panels_with_targets(dashboards(budgets, "test")["web-vitals"])
                 if p["type"] == "timeseries" and p["title"] == "LCP p75")
    budget_lines = {t["legendFormat"]: t["expr"] for t in panel["targets"] if t["legendFormat"].startswith("budget ")}
    assert set(budget_lines) == {GENERAL, SLOW}
    with exporter(tmp / "exporter", workers=2, config={"budgets_file": str(budgets_file)}) as exp, \
            prometheus(tmp / "prometheus", [f"127.0.0.1:{exp.port}"],
                       rule_files=sorted((out / naming.RULES_DIR).glob("*.yml"))) as prom:
        for i in range(5):
            for page, lcp in (("http://shop.test/slow", 3500.0), ("http://shop.test/fast", 1000.0)):
                status, body = http("POST", f"{exp.url}/api/web-vitals", [beacon("LCP", lcp, f"{page}-{i}", page=page)])
                assert status == 200, body
        recorded = naming.vital_count_increase(VITALS["LCP"], "1h")
        wait_for(lambda: {s["metric"]["route"] for s in prom_query(prom, recorded)["result"]}
                 >= {"/slow", "/fast"}, 60, what="the 1h recording rule over both routes")
        yield prom, budget_lines


def _drawn(prom: Server, budget_lines: dict[str, str], route: str) -> dict[str, float]:
    out = {}
    for legend, expr in budget_lines.items():
        expr = expr.replace("$route", route).replace("$device", ".*").replace("$site", ".*")
        result = prom_query(prom, expr)["result"]
        if result:
            out[legend] = float(result[0]["value"][1])
    return out


@pytest.mark.parametrize(("route", "expected"), [
    (".*", {GENERAL: 2.5, SLOW: 3.0}),   # All: every budget of the vital
    ("/fast", {GENERAL: 2.5}),           # only the site-wide budget applies
    ("/slow", {SLOW: 3.0}),              # the route's own budget wins over the site-wide one
    ("/nowhere", {}),                    # no page loads selected: no budget line
])
def test_a_budget_line_is_drawn_where_the_selection_holds_page_loads_it_owns(
        lines: tuple[Server, dict[str, str]], route: str, expected: dict[str, float]) -> None:
    prom, budget_lines = lines
    assert _drawn(prom, budget_lines, route) == expected
