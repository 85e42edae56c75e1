"""The root configuration: every section with its defaults, as `perfbudget serve` runs with no file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .auth import AuthConfig
from .base import StrictModel
from .beacons import BeaconsConfig
from .database import DatabaseConfig
from .logging import LoggingConfig
from .otlp import OtlpConfig
from .playbooks import ActionsConfig, PlaybooksConfig
from .prometheus import PrometheusConfig, merge_alias
from .releases import ReleasesConfig
from .routes import RoutesConfig
from .server import ServerConfig
from .sites import SiteConfig, check_sites, site_origins


class Config(StrictModel):
    server: ServerConfig = Field(default_factory=ServerConfig)
    beacons: BeaconsConfig = Field(default_factory=BeaconsConfig)
    routes: RoutesConfig = Field(default_factory=RoutesConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    otlp: OtlpConfig = Field(default_factory=OtlpConfig)
    playbooks: PlaybooksConfig = Field(default_factory=PlaybooksConfig)
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig, validate_default=True)
    # The shared store for several replicas (PERFBUDGET_DATABASE_URL); none: SQLite under data_dir.
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    # The budgets file; the bundled budgets.yaml when unset.
    budgets_file: Path | None = None
    # The service thresholds set by POST /api/performance-alerts, an input of `perfbudget generate` beside
    # the budgets file: budgets.overrides.yaml in the budgets file's folder (in data_dir when the budgets
    # are the bundled ones) when unset.
    thresholds_file: Path | None = None
    # Where the audit log and the summary's snapshots live (PERFBUDGET_DATA_DIR).
    data_dir: Path = Path("data")
    # Days of the summary's minute frames kept (METRICS_RETENTION_DAYS): the longest range the analytics
    # answer from the exporter's own data; longer ranges come from Prometheus (`perfbudget report --source`).
    metrics_retention_days: Annotated[int, Field(ge=1, le=400)] = 30
    # The site's static files (PERFBUDGET_SITE_ROOT): the directory actions may change when
    # actions.allowed_dirs names none.
    site_root: Path | None = None
    # Several sites (config/sites.py): a `site` label from each page URL's host; none configured, no label.
    sites: list[SiteConfig] = Field(default_factory=list)
    # Known releases (config/releases.py): a `version` label; none configured, no label.
    releases: ReleasesConfig = Field(default_factory=ReleasesConfig)

    @field_validator("prometheus")
    @classmethod
    def _prometheus_alias(cls, value: PrometheusConfig, info: ValidationInfo) -> PrometheusConfig:
        actions = info.data.get("actions")  # validated before (declared first); absent when invalid
        merged = merge_alias(value, actions.prometheus_url if isinstance(actions, ActionsConfig) else None)
        if merged.summary == "prometheus" and merged.url is None:
            raise ValueError("summary: prometheus reads the summary's windows from Prometheus: set prometheus.url "
                             "(or PERFBUDGET_PROMETHEUS_URL), or use summary: auto or local")
        return merged

    @field_validator("sites")
    @classmethod
    def _sites(cls, value: list[SiteConfig]) -> list[SiteConfig]:
        return check_sites(value)

    @model_validator(mode="after")
    def _site_origins(self) -> Config:
        """An empty `beacons.allowed_origins` with sites configured: the sites' hosts' https and http origins."""
        if self.sites and not self.beacons.allowed_origins:
            derived = self.beacons.model_copy(update={"allowed_origins": site_origins(self.sites)})
            object.__setattr__(self, "beacons", derived)  # the model is frozen once built; this is its building
        return self
