"""GET /api/performance-monitoring's answers (the monitoring guide's shape): perfbudget's own (local.py, from
service_history.py and psutil in host.py) or a Prometheus job's (prometheus.py), the status from the
service budgets (status.py), cached briefly (service.py)."""

from .host import HostSampler
from .local import LocalMonitor
from .prometheus import PrometheusError, PrometheusMonitor
from .service import Monitoring, MonitoringError
from .status import decide

__all__ = ["HostSampler", "LocalMonitor", "Monitoring", "MonitoringError", "PrometheusError", "PrometheusMonitor",
           "decide"]
