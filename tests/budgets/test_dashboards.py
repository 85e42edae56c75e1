"""The Web Vitals dashboard against the budgets: every budget's line in its vital's panel, relative links
between the dashboards, and the route table coloured by Google's thresholds and the budget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from perfbudget.budgets import naming
from perfbudget.budgets.dashboard_budgets import rating_steps
from perfbudget.budgets.dashboards import dashboards, panels_with_targets
from perfbudget.budgets.model import load_budgets
from perfbudget.vitals import VITALS


def _panel(dashboard: dict[str, Any], kind: str, title: str) -> dict[str, Any]:
    found = [p for p in panels_with_targets(dashboard) if p["type"] == kind and p["title"] == title]
    assert len(found) == 1, (kind, title)
    return found[0]


def _budget_targets(panel: dict[str, Any]) -> dict[str, str]:
    return {t["legendFormat"]: t["expr"] for t in panel["targets"] if t["legendFormat"].startswith("budget ")}


def test_a_route_and_device_budget_is_drawn_in_its_vitals_panel_beside_the_site_wide_one() -> None:
    web = dashboards(load_budgets(env={}), "header")["web-vitals"]  # bundled: lcp, lcp-products-phone
    lcp = _budget_targets(_panel(web, "timeseries", "LCP p75"))
    assert set(lcp) == {"budget lcp (p75 2.5s, every route and device)",
                        "budget lcp-products-phone (p75 2s, route /products/.*, phone)"}
    specific = lcp["budget lcp-products-phone (p75 2s, route /products/.*, phone)"]
    assert specific.startswith("vector(2) and on () (")
    assert 'route=~"$route",device=~"$device",site=~"$site",route=~"/products/.*",device="phone"' in specific
    # The site-wide line leaves the pairs the specific budget owns to it, as the alerts do.
    general = lcp["budget lcp (p75 2.5s, every route and device)"]
    assert 'unless on (route, device, site) route_device:perfbudget_lcp_seconds_count:increase1h' \
           '{route=~"/products/.*",device="phone"}' in general
    assert set(_budget_targets(_panel(web, "timeseries", "INP p75"))) == {
        "budget inp (p75 200ms, every route and device)"}


def test_a_vital_without_a_budget_gets_no_budget_line(write_budgets: Any) -> None:
    budgets = load_budgets(write_budgets({"vitals": [{"metric": "CLS", "device": "desktop", "target": 0.05}]}),
                           env={})
    web = dashboards(budgets, "header")["web-vitals"]
    assert _budget_targets(_panel(web, "timeseries", "LCP p75")) == {}
    assert list(_budget_targets(_panel(web, "timeseries", "CLS p75"))) == [
        "budget cls-desktop (p75 0.05, desktop)"]


def _strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, key)
    elif isinstance(node, str):
        yield key, node


@pytest.mark.parametrize("name", list(naming.DASHBOARD_UIDS))
def test_no_dashboard_link_names_a_host(name: str) -> None:
    budgets = load_budgets(env={})
    assert budgets.grafana_url.startswith("http://")  # what the links were built from before
    dashboard = dashboards(budgets, "header")[name]
    assert [(k, v) for k, v in _strings(dashboard) if "://" in v] == []
    links = dashboard["links"]
    assert {link["url"] for link in links} == {f"/d/{uid}/{key}" for key, uid in naming.DASHBOARD_UIDS.items()
                                               if key != name}
    assert all(link["keepTime"] and link["includeVars"] for link in links)


def test_the_route_table_colours_each_p75_by_googles_thresholds() -> None:
    web = dashboards(load_budgets(env={}), "header")["web-vitals"]
    table = _panel(web, "table", "p75 per route and device")
    columns = {}
    for override in table["fieldConfig"]["overrides"]:
        props = {p["id"]: p["value"] for p in override["properties"]}
        columns[props["displayName"]] = props
    for name, vital in VITALS.items():
        props = columns[f"{name} p75"]
        assert [(s["value"], s["color"]) for s in props["thresholds"]["steps"]] == [
            (None, "green"), (vital.good, "orange"), (vital.poor, "red")], name
        assert props["custom.cellOptions"] == {"type": "color-background"}
        assert props["color"] == {"mode": "thresholds"}
    assert "thresholds" not in columns["page loads (LCP)"]


def test_a_site_wide_budget_off_googles_thresholds_adds_its_own_step(write_budgets: Any) -> None:
    budgets = load_budgets(write_budgets({"vitals": [{"metric": "LCP", "target": 1750},
                                                     {"metric": "INP", "target": 300}]}), env={})
    assert rating_steps(budgets, VITALS["LCP"]) == ((None, "green"), (1.75, "yellow"), (2.5, "orange"),
                                                    (4.0, "red"))
    assert rating_steps(budgets, VITALS["INP"]) == ((None, "green"), (0.2, "orange"), (0.3, "dark-orange"),
                                                    (0.5, "red"))
    web = dashboards(budgets, "header")["web-vitals"]
    table = _panel(web, "table", "p75 per route and device")
    lcp = next(o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "Value #A")
    steps = next(p["value"]["steps"] for p in lcp["properties"] if p["id"] == "thresholds")
    assert {"color": "yellow", "value": 1.75} in steps
    stat = _panel(web, "stat", "LCP p75")
    assert {"color": "yellow", "value": 1.75} in stat["fieldConfig"]["defaults"]["thresholds"]["steps"]
