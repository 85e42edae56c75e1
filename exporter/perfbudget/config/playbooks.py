"""Playbook runner policy: what may execute, where actions may write, limits per run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from .base import StrictModel
from .beacons import rate_limit_notation

Risk = Literal["safe", "moderate", "high"]


class PlaybooksConfig(StrictModel):
    # Extra playbook directory; the bundled playbooks are always loaded first, same ids here replace them.
    directory: Path | None = None
    # Playbook ids allowed to execute (never by default: every run is a dry run).
    execute: list[str] = Field(default_factory=list)
    # Highest risk an automated action may have to run in execute mode.
    max_risk: Risk = "safe"
    # Run an alert's playbook in execute mode straight from Alertmanager when it is allowed to execute.
    execute_on_alert: bool = False
    cooldown_seconds: Annotated[int, Field(ge=0, le=86400 * 7)] = 900
    max_concurrent_per_playbook: Annotated[int, Field(ge=1, le=64)] = 1
    worker_threads: Annotated[int, Field(ge=1, le=64)] = 2
    queue_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    action_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0
    # The audit log (SQLite); data_dir/playbook-runs.sqlite when unset.
    audit_file: Path | None = None
    # Runs started by hand (POST /api/perf-fix), per client address: dry runs need no token but cost CPU.
    manual_rate_limit: Annotated[str, AfterValidator(rate_limit_notation)] = "10/minute"
    # Dry runs and skipped runs older than this leave the audit log at start (executes are always kept).
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 90


class ActionsConfig(StrictModel):
    # Directories actions may read and change; PERFBUDGET_SITE_ROOT when none are named.
    allowed_dirs: list[Path] = Field(default_factory=list)
    max_files_per_run: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_bytes_per_run: Annotated[int, Field(ge=1)] = 2 << 30
    # Commands the `command` action may run: name -> argv prefix (no shell).
    commands: dict[str, list[str]] = Field(default_factory=dict)
    # Grafana for the grafana-annotation action; the token is a service-account token.
    grafana_url: str | None = None
    grafana_token: str | None = None
    # Prometheus to verify executes against; the exporter's own data is used when unset.
    prometheus_url: str | None = None
    # Public URL of this exporter, for links in annotations, webhooks and alert annotations.
    external_url: str | None = None
