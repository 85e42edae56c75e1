"""Every environment variable perfbudget reads or sets for its own workers, named once.

The documented, stable names (the README's "Configuration" section) map to the config keys they override;
the OpenTelemetry SDK's standard `OTEL_*` variables are read in `config/otlp.py`.
"""

from __future__ import annotations

#: The config file when no `--config.file` flag is given.
CONFIG_ENV = "PERFBUDGET_CONFIG"
#: The bearer token for the webhook and every write endpoint.
API_TOKEN_ENV = "PERFBUDGET_API_TOKEN"
DATA_DIR_ENV = "PERFBUDGET_DATA_DIR"
SITE_ROOT_ENV = "PERFBUDGET_SITE_ROOT"
RATE_LIMIT_ENV = "PERFBUDGET_RATE_LIMIT"
LISTEN_ADDRESS_ENV = "PERFBUDGET_LISTEN_ADDRESS"
WORKERS_ENV = "PERFBUDGET_WORKERS"
BUDGETS_ENV = "PERFBUDGET_BUDGETS"
#: The one Prometheus setting (prometheus.url): verification, reports, compare, monitoring, thresholds.
PROMETHEUS_URL_ENV = "PERFBUDGET_PROMETHEUS_URL"
#: The shared store (database.url): PostgreSQL for the playbook runs of several replicas.
DATABASE_URL_ENV = "PERFBUDGET_DATABASE_URL"
#: The web-vitals IIFE build served beside /beacon.js, when it is not in the package or the checkout.
WEB_VITALS_JS_ENV = "PERFBUDGET_WEB_VITALS_JS"
#: The monitoring guide's variable: days of the summary's snapshots kept (the analytics' longest range).
RETENTION_ENV = "METRICS_RETENTION_DAYS"

#: Environment variable -> the config key path it overrides.
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    DATA_DIR_ENV: ("data_dir",),
    SITE_ROOT_ENV: ("site_root",),
    RATE_LIMIT_ENV: ("beacons", "rate_limit"),
    LISTEN_ADDRESS_ENV: ("server", "listen_address"),
    WORKERS_ENV: ("server", "workers"),
    BUDGETS_ENV: ("budgets_file",),
    PROMETHEUS_URL_ENV: ("prometheus", "url"),
    DATABASE_URL_ENV: ("database", "url"),
    RETENTION_ENV: ("metrics_retention_days",),
}

# The monitoring guide's service thresholds, over the budgets file's service and resource targets.
RESPONSE_TIME_ENV = "ALERT_THRESHOLD_RESPONSE_TIME"  # milliseconds
ERROR_RATE_ENV = "ALERT_THRESHOLD_ERROR_RATE"  # percent
CPU_ENV = "ALERT_THRESHOLD_CPU"  # percent
MEMORY_ENV = "ALERT_THRESHOLD_MEMORY"  # percent

# Set by `perfbudget serve` for its workers, never by users.
#: The server's master process: a reload is SIGHUP to it.
MASTER_PID_ENV = "PERFBUDGET_MASTER_PID"
#: The run's private directory: the configuration snapshot the workers build from.
RUN_DIR_ENV = "PERFBUDGET_RUN_DIR"
#: The run's id, shared by every worker of one server run (the summary's windows span runs by it).
EPOCH_ENV = "PERFBUDGET_EPOCH"
#: client_python's multiprocess directory; perfbudget's shared tables live there too.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Given to a playbook's `command` action: the run it belongs to.
RUN_ID_ENV = "PERFBUDGET_RUN_ID"
