"""The committed dashboards' queries as Grafana would send them: its own variables substituted ($__range the
dashboard's time range, $__rate_interval a scrape-safe range) and every template variable set to All."""

from __future__ import annotations

import json
from pathlib import Path

from perfbudget.budgets import naming
from perfbudget.budgets.dashboards import panels_with_targets

REPO = Path(__file__).parents[2]
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$route": ".*", "$device": ".*", "$job": ".*",
                     "$site": ".*", "$version": ".*", "$navigation": ".*"}


def substitute(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file stem, panel title, query) for every target of every committed dashboard."""
    out = []
    for path in sorted((REPO / naming.DASHBOARDS_DIR).glob("*.json")):
        for panel in panels_with_targets(json.loads(path.read_text())):
            for target in panel["targets"]:
                out.append((path.stem, panel["title"], substitute(target["expr"])))
    return out
