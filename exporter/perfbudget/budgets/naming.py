"""Every name the generators write, decided in one place: rule names, alert names, label values, file
names, dashboard uids, and how numbers are rendered into PromQL.

Recording rules follow Prometheus's `level:metric:operations` convention: the level lists the labels kept
(`route_device` keeps route and device), the metric is the source metric, the operations say what was done
(`increase1h`, `p75_1h`, `good_ratio_1h`). With `sites:` configured the exporter's series carry a `site`
label, and every Web Vitals rule keeps it too (`by (route, device, site)`: without the label that is the same
as `by (route, device)`), so a `route_device` rule is per site where there are sites.
"""

from __future__ import annotations

import math
import re

from prometheus_client.utils import floatToGoString

from ..subparts import BREAKDOWNS as PARTS
from ..vitals import Vital

# --- files ------------------------------------------------------------------------------------------
RULES_DIR = "alertmanager/rules"
RULE_TESTS_DIR = "alertmanager/rules/tests"
ALERTMANAGER_FILE = "alertmanager/alertmanager.yml"
DASHBOARDS_DIR = "grafana/dashboards"
DATASOURCES_FILE = "grafana/provisioning/datasources/perfbudget.yml"
DASHBOARD_PROVIDER_FILE = "grafana/provisioning/dashboards/perfbudget.yml"

# --- Grafana ----------------------------------------------------------------------------------------
DATASOURCE_UID = "perfbudget-prometheus"
DATASOURCE_VARIABLE = "${datasource}"
DASHBOARD_FOLDER = "perfbudget"
DASHBOARD_UIDS = {
    "web-vitals": "perfbudget-web-vitals",
    "service-budgets": "perfbudget-service-budgets",
    "exporter-health": "perfbudget-exporter-health",
}

# --- alerts -----------------------------------------------------------------------------------------
ALERT_VITAL_BUDGET = "WebVitalsBudgetExceeded"
ALERT_VITAL_REGRESSION = "WebVitalsRegression"
ALERT_BEACONS_STOPPED = "WebVitalsBeaconsStopped"
ALERT_API_LATENCY = "APILatencyBudgetExceeded"
ALERT_ERROR_RATE = "ErrorRateBudgetExceeded"
ALERT_AVAILABILITY = "AvailabilityErrorBudgetBurn"
ALERT_VITAL_OBJECTIVE = "WebVitalsErrorBudgetBurn"
ALERT_CPU = "HostCPUBudgetExceeded"
ALERT_MEMORY = "HostMemoryBudgetExceeded"
ALERT_DISK = "HostDiskBudgetExceeded"

# The `metric` label of service and resource alerts (vital alerts carry the vital's name: LCP, INP, ...).
METRIC_API_LATENCY = "api_latency"
METRIC_ERROR_RATE = "error_rate"
METRIC_AVAILABILITY = "availability"
METRIC_CPU = "cpu"
METRIC_MEMORY = "memory"
METRIC_DISK = "disk"
METRIC_BEACONS = "beacons"

# The exporter's distinct-clients gauge (perfbudget.metrics.DISTINCT_CLIENTS), which vital alerts guard on.
METRIC_DISTINCT_CLIENTS = "perfbudget_route_distinct_clients"

# The labels every Web Vitals rule keeps, and how its alerts join one rule onto another.
VITAL_BY = "route, device, site"
VITAL_ON = f"on ({VITAL_BY})"

# Why a vital is slow: the exporter's breakdown histograms (perfbudget.subparts), their part label, and the
# `cause` label a vital's alerts carry (the dominant part at p75, CAUSE_UNKNOWN without breakdown data).
BREAKDOWNS = {name: (b.metric, b.label, b.names) for name, b in PARTS.items()}
CAUSE_LABEL = "cause"
CAUSE_UNKNOWN = "unknown"
CAUSE_PERCENTILE = 75.0

# The `budget` label of the alerts that are not per Web Vitals budget.
BUDGET_API_LATENCY = "api-latency"
BUDGET_ERROR_RATE = "error-rate"
BUDGET_AVAILABILITY = "availability"
BUDGET_CPU = "cpu"
BUDGET_MEMORY = "memory"
BUDGET_DISK = "disk"
BUDGET_BEACONS = "beacons-stopped"


def alert_labels(severity: str, metric: str, budget: str, **extra: str) -> dict[str, str]:
    """The labels of every alert, in this order: Alertmanager routes on `severity`, inhibits on `metric`,
    groups on `budget`, and playbooks match on them."""
    return {"severity": severity, "metric": metric, "budget": budget, **extra}


# --- service and resource recording rules -----------------------------------------------------------
SERVICE_LEVEL = "job"
RESOURCE_CPU_RULE = "instance:node_cpu_utilisation:rate5m"
RESOURCE_MEMORY_RULE = "instance:node_memory_utilisation:ratio"
RESOURCE_DISK_RULE = "instance_mountpoint:node_filesystem_utilisation:ratio"


def number(value: float) -> str:
    """A threshold as PromQL text, at 12 significant digits (0.0144, not 0.014400000000000001)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.12g}"


def le(value: float) -> str:
    """A bucket bound exactly as client_python renders the `le` label ("2.5", "2.0", "+Inf")."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def percentile_tag(percentile: float) -> str:
    """75 -> 'p75', 99.9 -> 'p99_9'."""
    return "p" + f"{percentile:g}".replace(".", "_")


def vital_rule(vital: Vital, operation: str, *, level: str = "route_device", suffix: str = "") -> str:
    """`route_device:perfbudget_lcp_seconds:p75_1h` and friends."""
    return f"{level}:{vital.metric}{suffix}:{operation}"


def vital_bucket_increase(vital: Vital, window: str) -> str:
    return vital_rule(vital, f"increase{window}", level="route_device_le", suffix="_bucket")


def vital_count_increase(vital: Vital, window: str) -> str:
    return vital_rule(vital, f"increase{window}", suffix="_count")


def vital_quantile(vital: Vital, percentile: float, window: str) -> str:
    return vital_rule(vital, f"{percentile_tag(percentile)}_{window}")


def vital_good_ratio(vital: Vital, window: str) -> str:
    return vital_rule(vital, f"good_ratio_{window}")


def breakdown_bucket_increase(vital: Vital, window: str) -> str:
    """`route_device_subpart_le:perfbudget_lcp_subpart_seconds_bucket:increase1h`."""
    metric, part, _ = BREAKDOWNS[vital.name]
    return f"route_device_{part}_le:{metric}_bucket:increase{window}"


def breakdown_quantile(vital: Vital, window: str) -> str:
    """Each part's p75: `route_device_subpart:perfbudget_lcp_subpart_seconds:p75_1h`."""
    metric, part, _ = BREAKDOWNS[vital.name]
    return f"route_device_{part}:{metric}:{percentile_tag(CAUSE_PERCENTILE)}_{window}"


def breakdown_dominant(vital: Vital, window: str) -> str:
    """The part with the highest p75, named by a `cause` label, its p75 the value:
    `route_device:perfbudget_lcp_subpart_seconds:dominant_p75_1h`."""
    metric, _, _ = BREAKDOWNS[vital.name]
    return f"route_device:{metric}:dominant_{percentile_tag(CAUSE_PERCENTILE)}_{window}"


def threshold_tag(value: float) -> str:
    """A bucket edge in a rule name: 2.5 -> 'le2_5' (the `le` label's text, name-safe)."""
    return "le" + re.sub(r"[^0-9a-zA-Z]", "_", le(value))


def vital_error_ratio(vital: Vital, threshold: float, window: str) -> str:
    """The share of page loads over `threshold` (an objective's bad events): `...:error_ratio_le2_5_1h`."""
    return vital_rule(vital, f"error_ratio_{threshold_tag(threshold)}_{window}")


def service_latency_quantile(metric: str, percentile: float, window: str) -> str:
    base = metric.removesuffix("_bucket")
    return f"{SERVICE_LEVEL}:{base}:{percentile_tag(percentile)}_rate{window}"


def service_error_ratio(window: str) -> str:
    return f"{SERVICE_LEVEL}:http_server_requests:error_ratio_rate{window}"


def runbook_url(exporter_url: str, metric: str) -> str:
    """The playbooks for an alert: the exporter's `/api/perf-fix?metric=...`."""
    return f"{exporter_url.rstrip('/')}/api/perf-fix?metric={metric}"


def dashboard_url(grafana_url: str, dashboard: str) -> str:
    return f"{grafana_url.rstrip('/')}/d/{DASHBOARD_UIDS[dashboard]}/{dashboard}"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def header(source: str, overrides: dict[str, str]) -> str:
    """The first line of every generated file (without a comment marker)."""
    extra = ""
    if overrides:
        extra = " with " + ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()))
    return f"generated by perfbudget generate from {source}{extra}, do not edit"
