"""Playbook runner policy: what may execute, where actions may write, limits per run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from .base import StrictModel
from .beacons import rate_limit_notation

Risk = Literal["safe", "moderate", "high"]
# The highest actions.max_image_pixels may be (1 GP, 8 bytes a pixel decoded is 8 GB).
HIGHEST_IMAGE_PIXELS = 1_000_000_000


def _answer_wait_seconds(value: float) -> float:
    if not 0 <= value <= 60:
        raise ValueError("must be from 0 to 60 seconds (0: never wait, always 202; an answer that waits holds "
                         "a request thread that long)")
    return value


def _answer_waiters(value: int) -> int:
    if not 0 <= value <= 64:
        raise ValueError("must be from 0 to 64 answers per worker process (0: none waits; each one that waits "
                         "holds a request thread, and one is always left for other requests)")
    return value


class PlaybooksConfig(StrictModel):
    # Extra playbook directory; the bundled playbooks are always loaded first, same ids here replace them.
    directory: Path | None = None
    # Playbook ids allowed to execute (never by default: every run is a dry run).
    execute: list[str] = Field(default_factory=list)
    # Highest risk an automated action may have to run in execute mode.
    max_risk: Risk = "safe"
    # Run an alert's playbook in execute mode straight from Alertmanager when it is allowed to execute.
    execute_on_alert: bool = False
    # An alert's execute on a route needs this many distinct clients on the route over
    # execute_clients_window (perfbudget_route_distinct_clients), else it runs as a dry run with the reason
    # in the audit log: forged beacons from a few addresses cannot start one. 0 turns the check off.
    execute_min_clients: Annotated[int, Field(ge=0, le=1_000_000)] = 5
    execute_clients_window: Annotated[str, Field(pattern=r"^[1-9][0-9]*[smhd]$")] = "1h"
    cooldown_seconds: Annotated[int, Field(ge=0, le=86400 * 7)] = 900
    max_concurrent_per_playbook: Annotated[int, Field(ge=1, le=64)] = 1
    worker_threads: Annotated[int, Field(ge=1, le=64)] = 2
    queue_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    action_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0
    # The audit log (SQLite); data_dir/playbook-runs.sqlite when unset.
    audit_file: Path | None = None
    # Runs started by hand (POST /api/perf-fix), per client address: dry runs need no token but cost CPU.
    manual_rate_limit: Annotated[str, AfterValidator(rate_limit_notation)] = "10/minute"
    # POST /api/perf-fix waits up to this many seconds for its run to end and answers 200 with the result;
    # a run still going then is a 202 with where to poll. 0: never wait (always 202).
    answer_wait_seconds: Annotated[float, AfterValidator(_answer_wait_seconds)] = 10.0
    # How many such answers may wait at once per worker process (each holds a request thread while it
    # waits, never past answer_wait_seconds); the others get their 202 at once. Never more than the
    # request threads less one (server.threads), so a thread is always left for every other request.
    answer_waiters: Annotated[int, AfterValidator(_answer_waiters)] = 2
    # Dry runs and skipped runs older than this leave the audit log at start (executes are always kept).
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # Fix outcomes (GET /api/perf-fix/outcomes): the vital before an execute and after it over windows of
    # this many seconds (a week by default; `?window=` asks for another, up to a week).
    outcomes_window_seconds: Annotated[int, Field(ge=60, le=7 * 86400)] = 7 * 86400


class ActionsConfig(StrictModel):
    # Directories actions may read and change; PERFBUDGET_SITE_ROOT when none are named.
    allowed_dirs: list[Path] = Field(default_factory=list)
    max_files_per_run: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_bytes_per_run: Annotated[int, Field(ge=1)] = 2 << 30
    # Decompression-bomb guard: an image with more pixels than this is skipped, measured from its header
    # before anything is decoded (64 MP is a 10,000 x 6,400 photo; a 164 KB PNG can declare 169 MP).
    max_image_pixels: Annotated[int, Field(ge=1, le=HIGHEST_IMAGE_PIXELS)] = 64_000_000
    # Memory the decoded images may hold at once, every encoding thread of every run together; an image
    # that needs more than this still runs, alone.
    decode_memory_bytes: Annotated[int, Field(ge=1 << 20)] = 512 << 20
    # Origins that serve the site's assets (a CDN: https://cdn.example.com): a preload hint may name a URL on
    # one of them. Any other URL a beacon reports is written as its bare path, and only for a file of the site.
    asset_origins: list[str] = Field(default_factory=list)
    # Commands the `command` action may run: name -> argv prefix (no shell).
    commands: dict[str, list[str]] = Field(default_factory=dict)
    # Grafana for the grafana-annotation action; the token is a service-account token.
    grafana_url: str | None = None
    grafana_token: str | None = None
    # The older name of prometheus.url (config/prometheus.py), kept as its alias: read prometheus.url.
    prometheus_url: str | None = None
    # Public URL of this exporter, for links in annotations, webhooks and alert annotations.
    external_url: str | None = None

    @field_validator("asset_origins")
    @classmethod
    def _asset_origins(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"https?://[^/\s]+", item):
                raise ValueError(f"{item!r} is not an origin like https://cdn.example.com (no path, no '*')")
        return value
