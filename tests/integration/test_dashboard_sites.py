"""Sites, releases and soft navigations on the Web Vitals dashboard and in the generated alerts, against a real
exporter with `sites:`, `releases:` and `beacons.navigation_type_label` on and a real Prometheus on the generated
rules: one budget alert per site (the general budget on shop, blog's own budget on blog), the `$site` selection
in the recorded stats, the releases table's p75 and good share per version, and the `$navigation` variable's
soft and hard values."""

from __future__ import annotations

import json
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

QUICK = {"window": "1m", "min_samples": 3, "min_clients": 1, "for": "0s"}
BUDGETS: dict[str, Any] = {"vitals": [{"metric": "LCP", "target": 2500, **QUICK},
                                      {"metric": "LCP", "site": "blog", "target": 500, **QUICK}],
                           "regression": None, "beacons_stopped": None}
CONFIG: dict[str, Any] = {"sites": [{"name": "shop", "hosts": ["shop.test"]}, {"name": "blog", "hosts": ["blog.test"]}],
                          "releases": {"versions": ["v1", "v2"]}, "beacons": {"navigation_type_label": True}}
# (page, version, navigation type, LCP ms): shop's v2 is slower than its v1 and arrives by soft navigation.
LOADS = [("https://shop.test/p", "v1", "navigate", 3000.0), ("https://shop.test/p", "v2", "soft-navigation", 4000.0),
         ("https://blog.test/p", "v1", "navigate", 1000.0)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("dashboard-sites")
    budgets_file = tmp / "budgets.yaml"
    budgets_file.write_text(yaml.safe_dump(BUDGETS))
    budgets = load_budgets(budgets_file, env={})
    out = tmp / "out"
    write(generate_files(budgets, "test"), out)
    board = json.loads((out / naming.DASHBOARDS_DIR / "web-vitals.json").read_text())
    assert board == dashboards(budgets, "test")["web-vitals"]
    with exporter(tmp / "exporter", workers=2, config={**CONFIG, "budgets_file": str(budgets_file)}) as exp, \
            prometheus(tmp / "prometheus", [f"127.0.0.1:{exp.port}"],
                       rule_files=sorted((out / naming.RULES_DIR).glob("*.yml"))) as prom:
        _send(exp, 0, 2)  # counters Prometheus has seen before the rest, so that the rest is an increase
        wait_for(lambda: len(prom_query(prom, "perfbudget_lcp_seconds_count")["result"]) == len(LOADS), 30,
                 what="Prometheus to scrape the first page loads")
        _send(exp, 2, 12)
        recorded = naming.vital_count_increase(VITALS["LCP"], "1h")
        wait_for(lambda: {s["metric"].get("site") for s in prom_query(prom, recorded)["result"]} >= {"shop", "blog"},
                 60, what="the 1h recording rule per site")
        yield prom, board


def _send(exp: Server, start: int, end: int) -> None:
    for i in range(start, end):
        for page, version, navigation, lcp in LOADS:
            report = beacon("LCP", lcp, f"{page}-{version}-{i}", page=page, version=version, navigationType=navigation)
            status, body = http("POST", f"{exp.url}/api/web-vitals", [report], {"Origin": page.rsplit("/", 1)[0]})
            assert status == 200, body


def _query(prom: Server, expr: str, **variables: str) -> list[dict[str, Any]]:
    values = {"$__rate_interval": "5m", "$__range": "1h", "$route": ".*", "$device": ".*", "$site": ".*",
              "$version": ".*", "$navigation": ".*", **{f"${k}": v for k, v in variables.items()}}
    for name, value in sorted(values.items(), key=lambda item: -len(item[0])):
        expr = expr.replace(name, value)
    result: list[dict[str, Any]] = prom_query(prom, expr)["result"]
    return result


def _panel(board: dict[str, Any], kind: str, title: str) -> dict[str, Any]:
    (found,) = [p for p in panels_with_targets(board) if p["type"] == kind and p["title"] == title]
    return found


def test_the_general_budget_alerts_per_site_and_a_site_budget_owns_its_site(stack: tuple[Server, Any]) -> None:
    prom, _ = stack

    def firing() -> set[tuple[str, str]]:
        _, body = http("GET", f"{prom.url}/api/v1/alerts")
        found = {(a["labels"].get("site", ""), a["labels"]["budget"]) for a in body["data"]["alerts"]
                 if a["state"] == "firing" and a["labels"]["alertname"] == naming.ALERT_VITAL_BUDGET}
        return found if len(found) >= 2 else set()

    assert wait_for(firing, 60, what="a budget alert on each site") == {("shop", "lcp"), ("blog", "lcp-blog")}


def test_the_site_variable_selects_the_recorded_stats(stack: tuple[Server, Any]) -> None:
    prom, board = stack
    expr = _panel(board, "stat", "LCP p75")["targets"][0]["expr"]
    shop = float(_query(prom, expr, site="shop")[0]["value"][1])
    blog = float(_query(prom, expr, site="blog")[0]["value"][1])
    assert shop > 2.5 and 0 < blog < 1.5  # shop: 3 s and 4 s page loads; blog: 1 s (interpolated in its bucket)
    assert [s["value"][1] for s in _query(prom, expr, site="nosuch")] in ([], ["NaN"])


def test_the_releases_table_compares_p75_and_good_share_per_version(stack: tuple[Server, Any]) -> None:
    prom, board = stack
    table = _panel(board, "table", "p75 and good share per version")
    p75, good = (t["expr"] for t in table["targets"][:2])  # LCP's two columns
    by_version = {s["metric"]["version"]: float(s["value"][1]) for s in _query(prom, p75, site="shop")}
    assert set(by_version) == {"v1", "v2"} and 2.5 < by_version["v1"] < 3.5 < by_version["v2"] <= 5
    shares = {s["metric"]["version"]: float(s["value"][1]) for s in _query(prom, good)}
    assert shares == {"v1": 0.5, "v2": 0.0}  # blog's good loads are all v1
    only = {s["metric"]["version"] for s in _query(prom, p75, version="v2")}
    assert only == {"v2"}
    bar = _panel(board, "bargauge", "LCP p75 per version")["targets"][0]["expr"]
    assert {s["metric"]["version"] for s in _query(prom, bar)} == {"v1", "v2"}


def test_the_navigation_variable_keeps_soft_and_hard_navigations_apart(stack: tuple[Server, Any]) -> None:
    prom, board = stack
    variable = next(v for v in board["templating"]["list"] if v["name"] == "navigation")
    values = {o["text"]: o["value"] for o in variable["options"]}
    over_time = next(t["expr"] for t in _panel(board, "timeseries", "LCP p75")["targets"] if t["legendFormat"] == "p75")
    soft = float(_query(prom, over_time, navigation=values["soft"])[0]["value"][1])
    hard = float(_query(prom, over_time, navigation=values["hard"])[0]["value"][1])
    assert soft > 3.5 and hard < 3.5  # soft: shop's v2 (4 s); hard: shop's v1 (3 s) and blog (1 s)
