"""Budgets -> Grafana dashboards (Web Vitals overview, service budgets, exporter health) and provisioning.

Every panel and target points at the `${datasource}` variable, whose default is the provisioned
datasource's fixed uid: file provisioning does not resolve `__inputs`, so none are written. Counters are
read through `rate()`/`increase()`; rates over `$__rate_interval`; every panel has a unit.

The Web Vitals dashboard's `$site`, `$version` and `$navigation` variables are always there, as the generator
does not read the exporter's config: their labels exist only with `sites:`, `releases:` and
`beacons.navigation_type_label` on, and without a label a variable offers no value but All (`.*`, which matches
a missing label), so every panel draws as before. `$navigation` (soft-navigation or the hard types) filters the
panels that read the histograms (p75 over time, ratings, distributions, releases); the recording rules the
stats and the route table read keep no navigation type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..beacons import NAVIGATION_TYPES, SOFT_NAVIGATION_TYPES
from ..vitals import VITALS, Vital
from . import naming
from .dashboard_budgets import budget_line_style, budget_lines, rating_steps
from .dashboard_objectives import objective_panels
from .dashboard_releases import DESCRIPTION as RELEASES_DESCRIPTION
from .dashboard_releases import release_queries
from .model import Budgets
from .promql import equality, selector
from .stages.resources import RESOURCE_RULES, resource_thresholds
from .stages.service import error_rate_settings
from .stages.vitals_recording import DASHBOARD_WINDOW

DATASOURCE = {"type": "prometheus", "uid": naming.DATASOURCE_VARIABLE}
VITAL_FILTER = '{route=~"$route",device=~"$device",site=~"$site"}'
# The panels reading the histograms also filter on the navigation type (the recording rules keep none).
NAVIGATION_MATCHER = 'navigation_type=~"$navigation"'
SCHEMA_VERSION = 39

Target = dict[str, Any]


def target(expr: str, legend: str = "", *, instant: bool = False, fmt: str = "time_series") -> Target:
    """One Prometheus query of a panel."""
    out: Target = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto",
                   "range": not instant, "instant": instant, "format": fmt}
    return out


def _thresholds(steps: Sequence[tuple[float | None, str]]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


@dataclass
class _Layout:
    """Places panels left to right, wrapping at Grafana's 24 columns; ids in order."""

    panels: list[dict[str, Any]] = field(default_factory=list)
    x: int = 0
    y: int = 0
    row_height: int = 0

    def row(self, title: str) -> None:
        self.newline()
        self.panels.append({"id": len(self.panels) + 1, "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def newline(self) -> None:
        self.y += self.row_height
        self.x, self.row_height = 0, 0

    def add(self, panel: dict[str, Any], width: int, height: int) -> None:
        if self.x + width > 24:
            self.newline()
        panel = {"id": len(self.panels) + 1, **panel, "gridPos": {"h": height, "w": width, "x": self.x, "y": self.y}}
        self.panels.append(panel)
        self.x += width
        self.row_height = max(self.row_height, height)


def panel(kind: str, title: str, targets: list[Target], unit: str, *, description: str = "",
          thresholds: Sequence[tuple[float | None, str]] = ((None, "green"),), line: bool = False,
          options: dict[str, Any] | None = None, custom: dict[str, Any] | None = None,
          overrides: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A panel on the `${datasource}` variable with a unit and thresholds (drawn as lines when `line`)."""
    for index, item in enumerate(targets):
        item["refId"] = chr(ord("A") + index)
    custom_config = dict(custom or {})
    if line:
        custom_config["thresholdsStyle"] = {"mode": "line"}
    defaults: dict[str, Any] = {"unit": unit, "thresholds": _thresholds(thresholds)}
    if custom_config:
        defaults["custom"] = custom_config
    return {"type": kind, "title": title, "description": description, "datasource": DATASOURCE,
            "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": options or {}, **extra}


def _unit(vital: Vital) -> str:
    return "s" if vital.unit == "s" else "none"


def _variable_datasource() -> dict[str, Any]:
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {"text": "Prometheus", "value": naming.DATASOURCE_UID}, "hide": 0, "refresh": 1,
            "regex": "", "options": []}


def _variable_query(name: str, label: str, query: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "query": {"query": query, "refId": f"{name}-values"}, "definition": query, "refresh": 2,
            "multi": True, "includeAll": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"},
            "sort": 1, "hide": 0, "options": [], "regex": ""}


def _variable_navigation() -> dict[str, Any]:
    """Soft navigations (a single-page app's route changes) against the rest, on the navigation_type label.
    Single-valued without Grafana's All: Grafana regex-escapes the values of a multi or include-All variable, which
    would turn hard's `|` into a literal; "all" is an option of its own, `.*`."""
    soft = "|".join(SOFT_NAVIGATION_TYPES)
    hard = "|".join([*(t for t in NAVIGATION_TYPES if t not in SOFT_NAVIGATION_TYPES), "unknown"])
    options = [("all", ".*"), ("soft", soft), ("hard", hard)]
    return {"name": "navigation", "label": "Navigation", "type": "custom",
            "description": "With beacons.navigation_type_label on: soft navigations or every other type. Filters "
                           "the panels that read the histograms.",
            "query": ",".join(f"{text} : {value}" for text, value in options), "multi": False, "includeAll": False,
            "current": {"text": "all", "value": ".*"}, "hide": 0,
            "options": [{"text": text, "value": value, "selected": text == "all"} for text, value in options]}


def _dashboard(key: str, title: str, header: str, variables: list[dict[str, Any]], layout: _Layout) -> dict[str, Any]:
    # Relative (Grafana prefixes its sub-path), keeping the time range and the variables the dashboards share.
    links = [{"title": other.replace("-", " ").capitalize(), "type": "link", "icon": "dashboard",
              "url": f"/d/{naming.DASHBOARD_UIDS[other]}/{other}", "keepTime": True, "includeVars": True,
              "targetBlank": False}
             for other in naming.DASHBOARD_UIDS if other != key]
    return {
        "uid": naming.DASHBOARD_UIDS[key],
        "title": title,
        "description": header,
        "tags": ["perfbudget", "generated"],
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-24h", "to": "now"},
        "timezone": "browser",
        "refresh": "1m",
        "annotations": {"list": []},
        "links": links,
        "templating": {"list": [_variable_datasource(), *variables]},
        "panels": layout.panels,
    }


# --- Web Vitals overview ----------------------------------------------------------------------------

def _p75_recorded(vital: Vital) -> str:
    buckets = naming.vital_bucket_increase(vital, DASHBOARD_WINDOW)
    return f"histogram_quantile(0.75, sum by (le) ({buckets}{VITAL_FILTER}))"


def _rate(vital: Vital, suffix: str, *, by: str = "le", offset: str = "", le: str = "") -> str:
    selector = VITAL_FILTER[:-1] + f",{NAVIGATION_MATCHER}" + (f',le="{le}"' if le else "") + "}"
    shift = f" offset {offset}" if offset else ""
    return f"sum by ({by}) (rate({vital.metric}{suffix}{selector}[$__rate_interval]{shift}))" if by else (
        f"sum(rate({vital.metric}{suffix}{selector}[$__rate_interval]{shift}))")


def web_vitals_dashboard(budgets: Budgets, header: str) -> dict[str, Any]:
    layout = _Layout()
    steps = {name: rating_steps(budgets, v) for name, v in VITALS.items()}
    layout.row(f"p75 over the last {DASHBOARD_WINDOW} against the budget")
    for name, vital in VITALS.items():
        layout.add(panel("stat", f"{name} p75", [target(_p75_recorded(vital), f"{name} p75", instant=True)],
                         _unit(vital), thresholds=steps[name], description=vital.description,
                         options={"colorMode": "background", "graphMode": "none",
                                  "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
                   width=24 // 5 if name != "TTFB" else 24 - 4 * (24 // 5), height=4)
    layout.row("p75 over time, against every budget that applies and the same time a week earlier")
    for name, vital in VITALS.items():
        quantile = f"histogram_quantile(0.75, {_rate(vital, '_bucket')})"
        week = f"histogram_quantile(0.75, {_rate(vital, '_bucket', offset='1w')})"
        lines = [target(expr, legend) for expr, legend in budget_lines(budgets, vital)]
        layout.add(panel("timeseries", f"{name} p75",
                         [target(quantile, "p75"), target(week, "p75 a week earlier"), *lines], _unit(vital),
                         thresholds=((None, "green"), (vital.good, "orange"), (vital.poor, "red")), line=True,
                         description=f"{vital.description} Dashed: the budgets (Grafana shows a budget while the "
                                     "selected routes and devices hold page loads it applies to); threshold lines: "
                                     "Google's good and poor.",
                         overrides=[budget_line_style()]), width=12, height=8)
    layout.row("Share of page loads rated good, needs improvement and poor")
    for name, vital in VITALS.items():
        count = _rate(vital, "_count", by="")
        good = _rate(vital, "_bucket", by="", le=naming.le(vital.good))
        poor = _rate(vital, "_bucket", by="", le=naming.le(vital.poor))
        layout.add(panel(
            "timeseries", f"{name} ratings",
            [target(f"{good} / {count}", "good"), target(f"({poor} - {good}) / {count}", "needs improvement"),
             target(f"1 - {poor} / {count}", "poor")],
            "percentunit", custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 60},
            overrides=[{"matcher": {"id": "byName", "options": label},
                        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": color}}]}
                       for label, color in (("good", "green"), ("needs improvement", "orange"), ("poor", "red"))],
        ), width=12 if name != "TTFB" else 24, height=8)
    _objectives(layout, budgets)
    layout.row(f"Per route and device, over the last {DASHBOARD_WINDOW}")
    targets = [target(f"{naming.vital_quantile(v, 75, DASHBOARD_WINDOW)}{VITAL_FILTER}", instant=True, fmt="table")
               for v in VITALS.values()]
    targets.append(target(f"{naming.vital_count_increase(VITALS['LCP'], DASHBOARD_WINDOW)}{VITAL_FILTER}",
                          instant=True, fmt="table"))
    overrides = [{"matcher": {"id": "byName", "options": f"Value #{chr(ord('A') + i)}"},
                  "properties": [{"id": "displayName", "value": f"{name} p75"}, {"id": "unit", "value": _unit(v)},
                                 {"id": "thresholds", "value": _thresholds(steps[name])},
                                 {"id": "color", "value": {"mode": "thresholds"}},
                                 {"id": "custom.cellOptions", "value": {"type": "color-background"}}]}
                 for i, (name, v) in enumerate(VITALS.items())]
    overrides.append({"matcher": {"id": "byName", "options": f"Value #{chr(ord('A') + len(VITALS))}"},
                      "properties": [{"id": "displayName", "value": "page loads (LCP)"},
                                     {"id": "unit", "value": "short"}, {"id": "decimals", "value": 0}]})
    layout.add(panel("table", "p75 per route and device", targets, "none", overrides=overrides,
                     transformations=[{"id": "merge", "options": {}},
                                      {"id": "organize", "options": {"excludeByName": {"Time": True}}}]),
               width=24, height=10)
    layout.row("Distribution (heatmap of the histogram buckets)")
    for name, vital in VITALS.items():
        layout.add(panel("heatmap", f"{name} distribution",
                         [target(_rate(vital, "_bucket"), "{{le}}", fmt="heatmap")], _unit(vital),
                         options={"calculate": False, "yAxis": {"unit": _unit(vital)},
                                  "cellGap": 1, "color": {"scheme": "Oranges", "mode": "scheme"}}),
                   width=12 if name != "TTFB" else 24, height=8)
    _releases(layout)
    variables = [_variable_query("route", "Route", "label_values(perfbudget_lcp_seconds_count, route)"),
                 _variable_query("device", "Device", "label_values(perfbudget_lcp_seconds_count, device)"),
                 _variable_query("site", "Site", "label_values(perfbudget_lcp_seconds_count, site)"),
                 _variable_query("version", "Version", "label_values(perfbudget_lcp_seconds_count, version)"),
                 _variable_navigation()]
    return _dashboard("web-vitals", "Web Vitals", header, variables, layout)


def _releases(layout: _Layout) -> None:
    """p75 per version of each vital (bar gauges), and a table of every vital's p75 and good share per version."""
    layout.row("Releases: p75 and good share per version over the time range")
    queries = release_queries()
    for made in queries:
        name = made.vital.name
        layout.add(panel("bargauge", f"{name} p75 per version", [target(made.p75, "{{version}}", instant=True)],
                         _unit(made.vital), description=RELEASES_DESCRIPTION,
                         thresholds=((None, "green"), (made.vital.good, "orange"), (made.vital.poor, "red")),
                         options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                                  "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
                   width=24 // 5 if name != "TTFB" else 24 - 4 * (24 // 5), height=8)
    targets = [target(expr, instant=True, fmt="table") for made in queries for expr in (made.p75, made.good_share)]
    overrides = []
    for index, made in enumerate(queries):
        name = made.vital.name
        for offset, (title, unit) in enumerate(((f"{name} p75", _unit(made.vital)), (f"{name} good", "percentunit"))):
            overrides.append({"matcher": {"id": "byName", "options": f"Value #{chr(ord('A') + 2 * index + offset)}"},
                              "properties": [{"id": "displayName", "value": title}, {"id": "unit", "value": unit}]})
    layout.add(panel("table", "p75 and good share per version", targets, "none", overrides=overrides,
                     description=RELEASES_DESCRIPTION,
                     transformations=[{"id": "merge", "options": {}},
                                      {"id": "organize", "options": {"excludeByName": {"Time": True}}}]),
               width=24, height=8)


def _objectives(layout: _Layout, budgets: Budgets) -> None:
    """Per objective: its good share against the objective over time, and the error budget left."""
    if budgets.objectives:
        layout.row("Objectives: the good share against each objective, the error budget left")
    for made in objective_panels(budgets):
        layout.add(panel("timeseries", made.share_title, [target(e, legend) for e, legend in made.share_targets],
                         "percentunit", description=made.share_description), width=16, height=8)
        layout.add(panel("stat", made.budget_title, [target(made.budget_expr, "error budget left", instant=True)],
                         "percentunit", description=made.budget_description,
                         thresholds=((None, "red"), (0, "orange"), (0.25, "green")),
                         options={"colorMode": "background", "graphMode": "none",
                                  "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
                   width=8, height=8)


# --- service budgets --------------------------------------------------------------------------------

def service_dashboard(budgets: Budgets, header: str) -> dict[str, Any]:
    layout = _Layout()
    job = '{job=~"$job"}'
    service = budgets.service
    layout.row("API latency and errors")
    if service.latency is not None:
        latency = service.latency
        rule = naming.service_latency_quantile(latency.metric, latency.percentile, latency.window)
        layout.add(panel("timeseries", f"API {naming.percentile_tag(latency.percentile)} latency",
                         [target(f"{rule}{job}", "{{job}}")], "s",
                         thresholds=((None, "green"), (latency.target, "red")), line=True), width=12, height=8)
    errors = error_rate_settings(budgets)
    if service.error_rate is not None:
        rule = naming.service_error_ratio(errors.window)
        layout.add(panel("timeseries", "Error ratio", [target(f"{rule}{job}", "{{job}}")], "percentunit",
                         thresholds=((None, "green"), (errors.target, "red")), line=True), width=12, height=8)
    if service.availability is not None:
        availability = service.availability
        layout.row(f"Availability: {naming.number(availability.objective)}% over {availability.period}")
        scoped = [*equality(errors.selector), ("job", "=~", "$job")]
        failed = errors.metric + selector([*scoped, (errors.error_label, "=~", errors.error_regex)])
        total = errors.metric + selector(scoped)
        ratio = (f"(sum by (job) (increase({failed}[{availability.period}])) or sum by (job) "
                 f"(increase({total}[{availability.period}])) * 0) / sum by (job) "
                 f"(increase({total}[{availability.period}]))")
        budget = naming.number(availability.error_budget)
        layout.add(panel("stat", f"Error budget left ({availability.period})",
                         [target(f"1 - {ratio} / {budget}", "{{job}}", instant=True)], "percentunit",
                         thresholds=((None, "red"), (0.25, "orange"), (0.5, "green"))), width=8, height=8)
        burns = [target(f"{naming.service_error_ratio(b.long_window)}{job} / {budget}",
                        f"{{{{job}}}} over {b.long_window}") for b in availability.burn_rates]
        layout.add(panel("timeseries", "Error budget burn rate", burns, "none",
                         thresholds=((None, "green"), *((b.burn_rate, "red") for b in availability.burn_rates[:1])),
                         line=True), width=16, height=8)
    thresholds = resource_thresholds(budgets.resources)
    if thresholds:
        layout.row("Hosts (node_exporter)")
        for key, threshold in thresholds.items():
            resource = RESOURCE_RULES[key]
            legend = "{{instance}} {{mountpoint}}" if key == "disk_percent" else "{{instance}}"
            layout.add(panel("timeseries", resource.what.capitalize(), [target(resource.record, legend)], "percentunit",
                             thresholds=((None, "green"), (threshold, "red")), line=True), width=8, height=8)
    variables = [_variable_query("job", "Job", f"label_values({errors.metric}, job)")]
    return _dashboard("service-budgets", "Service budgets", header, variables, layout)


# --- exporter health --------------------------------------------------------------------------------

def _per_second(metric: str, by: str) -> str:
    return f'sum by ({by}) (rate({metric}{{job=~"$job"}}[$__rate_interval]))'


def exporter_dashboard(budgets: Budgets, header: str) -> dict[str, Any]:
    layout = _Layout()
    job = '{job=~"$job"}'
    layout.row("Status")
    layout.add(panel("stat", "Up", [target(f"up{job}", "{{instance}}", instant=True)], "none",
                     thresholds=((None, "red"), (1, "green"))), width=6, height=4)
    layout.add(panel("stat", "Last config reload", [target(
        f"min(perfbudget_config_last_reload_successful{job})", "reload ok", instant=True)], "bool_yes_no",
        thresholds=((None, "red"), (1, "green"))), width=6, height=4)
    layout.add(panel("table", "Build", [target(f"perfbudget_build_info{job}", instant=True, fmt="table")], "none",
                     transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True,
                                                                                       "__name__": True}}}]),
               width=12, height=4)
    layout.row("Beacons")
    for title, expr, legend, unit in (
        ("Reports accepted", _per_second("perfbudget_reports_accepted_total", "metric"), "{{metric}}", "ops"),
        ("Reports rejected", _per_second("perfbudget_reports_rejected_total", "reason"), "{{reason}}", "ops"),
        ("Duplicate reports", _per_second("perfbudget_reports_duplicate_total", "metric"), "{{metric}}", "ops"),
        ("Beacon requests", _per_second("perfbudget_beacon_requests_total", "code"), "{{code}}", "reqps"),
        ("Route overflow", f'sum(rate(perfbudget_route_overflow_total{job}[$__rate_interval]))', "overflow", "ops"),
        ("Distinct clients per route (what min_clients guards)",
         f"max by (route, window) ({naming.METRIC_DISTINCT_CLIENTS}{job})", "{{route}} over {{window}}", "none"),
    ):
        layout.add(panel("timeseries", title, [target(expr, legend)], unit), width=12, height=8)
    sizes = _per_second("perfbudget_beacon_request_size_bytes_bucket", "le")
    layout.add(panel("timeseries", "Beacon body size", [
        target(f"histogram_quantile(0.5, {sizes})", "p50"), target(f"histogram_quantile(0.95, {sizes})", "p95")],
        "bytes"), width=12, height=8)
    layout.row("Alerts, playbooks and OTLP")
    for title, expr, legend, unit in (
        ("Alerts received", _per_second("perfbudget_alerts_received_total", "status"), "{{status}}", "ops"),
        ("Playbook runs", _per_second("perfbudget_playbook_runs_total", "playbook, mode, outcome"),
         "{{playbook}} {{mode}} {{outcome}}", "ops"),
        ("OTLP exports", _per_second("perfbudget_otlp_exports_total", "outcome"), "{{outcome}}", "ops"),
        ("OTLP data points lost", f"sum(rate(perfbudget_otlp_failed_data_points_total{job}[$__rate_interval]))",
         "failed", "ops"),
    ):
        layout.add(panel("timeseries", title, [target(expr, legend)], unit), width=12, height=8)
    _fix_outcomes(layout, job)
    variables = [_variable_query("job", "Job", "label_values(perfbudget_build_info, job)")]
    return _dashboard("exporter-health", "perfbudget exporter health", header, variables, layout)


def _fix_outcomes(layout: _Layout, job: str) -> None:
    """Fix outcomes over the dashboard's time range (GET /api/perf-fix/outcomes has the details): how long
    alerts took to resolve, how many executes brought their vital within budget, the bytes they saved."""
    layout.row("Fix outcomes")
    resolution = f"sum by (playbook, le) (increase(perfbudget_playbook_resolution_seconds_bucket{job}[$__range]))"
    layout.add(panel("bargauge", "Time to resolution by playbook (alert start to resolution)", [
        target(f"histogram_quantile(0.5, {resolution})", "{{playbook}} median", instant=True),
        target(f"histogram_quantile(0.9, {resolution})", "{{playbook}} p90", instant=True)], "s",
        description="Over the time range: executed and fixed by hand together (the outcome label splits them)."),
        width=8, height=8)
    outcomes = "perfbudget_playbook_outcomes_total"
    success = panel("bargauge", "Fix success rate by playbook", [target(
        f'sum by (playbook) (increase({outcomes}{{outcome="improved",job=~"$job"}}[$__range])) / '
        f"sum by (playbook) (increase({outcomes}{job}[$__range]))", "{{playbook}}", instant=True)], "percentunit",
        description="Executes whose vital got within its budget in the hour after them, over every settled "
        "execute in the time range.", thresholds=((None, "red"), (0.5, "orange"), (0.8, "green")))
    success["fieldConfig"]["defaults"].update(min=0, max=1)
    layout.add(success, width=8, height=8)
    layout.add(panel("bargauge", "Bytes saved by executes", [target(
        f"sum by (playbook) (increase(perfbudget_playbook_bytes_saved_total{job}[$__range]))", "{{playbook}}",
        instant=True)], "bytes"), width=8, height=8)


def dashboards(budgets: Budgets, header: str) -> dict[str, dict[str, Any]]:
    """File stem -> dashboard JSON model."""
    return {
        "web-vitals": web_vitals_dashboard(budgets, header),
        "service-budgets": service_dashboard(budgets, header),
        "exporter-health": exporter_dashboard(budgets, header),
    }


# --- provisioning -----------------------------------------------------------------------------------

def datasource_provisioning() -> dict[str, Any]:
    return {"apiVersion": 1, "datasources": [{
        "name": "Prometheus", "type": "prometheus", "uid": naming.DATASOURCE_UID, "access": "proxy",
        "url": "http://prometheus:9090", "isDefault": True, "editable": False,
        "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
    }]}


def dashboard_provisioning() -> dict[str, Any]:
    return {"apiVersion": 1, "providers": [{
        "name": "perfbudget", "orgId": 1, "folder": naming.DASHBOARD_FOLDER, "type": "file",
        "disableDeletion": True, "allowUiUpdates": False, "updateIntervalSeconds": 60,
        "options": {"path": "/var/lib/grafana/dashboards", "foldersFromFilesStructure": False},
    }]}


def panels_with_targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every non-row panel of a dashboard (tests and linters walk these)."""
    return [p for p in dashboard["panels"] if p["type"] != "row"]
