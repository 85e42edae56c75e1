"""The one Prometheus perfbudget talks to: verification, reports, compare, monitoring and the service
thresholds' rules all read `prometheus.url` (PERFBUDGET_PROMETHEUS_URL); `actions.prometheus_url` is its
older name and stays an alias.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from .base import StrictModel

_URL = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?$")


class PrometheusConfig(StrictModel):
    # Prometheus's base URL (http://prometheus:9090, or with a path prefix behind a proxy); none: perfbudget
    # answers from its own data where it can.
    url: str | None = None
    # The folder this Prometheus loads rule files from (its rule_files: [<dir>/*.yml]), writable by
    # perfbudget: POST /api/performance-alerts regenerates the rules there. Never the bundled files.
    rules_dir: Path | None = None
    # After writing the rules, ask Prometheus to load them (POST <url>/-/reload, which needs Prometheus's
    # --web.enable-lifecycle); false when something else reloads it (a config reloader sidecar).
    reload: bool = True
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 5.0
    # Where the summary, the console, verification, outcomes and reports read their windows: `prometheus`
    # (PromQL over the histograms, summed over every replica it scrapes; needs `url`), `local` (this
    # exporter's own store: the beacons that reached it), or `auto`: prometheus when `url` is set and the
    # replicas share a database (database.url), local otherwise.
    summary: Literal["auto", "prometheus", "local"] = "auto"

    def summary_from_prometheus(self, shared_database: bool) -> bool:
        """Whether the summary's windows come from this Prometheus (`summary`, with `auto` resolved)."""
        return self.url is not None and (self.summary == "prometheus" or (self.summary == "auto" and shared_database))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _URL.match(value):
            raise ValueError("must be an http:// or https:// URL like http://prometheus:9090 (no query)")
        return value.rstrip("/")


def merge_alias(section: PrometheusConfig, alias: str | None) -> PrometheusConfig:
    """The section with `actions.prometheus_url` (the older name, `alias`) as its url when it has none;
    ValueError naming both when they name different servers."""
    if alias is None:
        return section
    if section.url is None:
        if not _URL.match(alias):
            raise ValueError(f"actions.prometheus_url (the older name of prometheus.url): {alias!r}: must be an "
                             "http:// or https:// URL like http://prometheus:9090 (no query)")
        return section.model_copy(update={"url": alias.rstrip("/")})
    if alias.rstrip("/") != section.url:
        raise ValueError(f"prometheus.url ({section.url!r}) and actions.prometheus_url ({alias!r}, its older "
                         "name) name different Prometheus servers: set prometheus.url only")
    return section
