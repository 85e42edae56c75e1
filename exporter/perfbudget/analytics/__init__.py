"""Analytics over a time range: the monitoring guide's metrics, trends and recommendations, the web vitals per
route, the playbook outcomes and the series the report draws (answer.py), from the exporter's own stores or
Prometheus (sources.py, prometheus.py); the report's renderers (markdown.py, html.py, charts.py)."""

from __future__ import annotations

from .answer import Sources, build
from .ranges import RANGE_FORM, TimeRange, parse_range

__all__ = ["RANGE_FORM", "Sources", "TimeRange", "build", "parse_range"]
