"""The monitoring answer as the endpoint gives it: perfbudget's own, or a Prometheus job's, as JSON bytes
kept briefly in the cache every worker shares (host figures and PromQL are not worth computing per request).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..answer_cache import AnswerCache
from ..config.env import PROMETHEUS_URL_ENV
from .local import LocalMonitor
from .prometheus import PrometheusError, PrometheusMonitor

MAX_SERVICE = 200  # characters of a job name


class MonitoringError(Exception):
    """A request the monitoring answer refuses: `status` and a message naming what to change."""

    def __init__(self, status: int, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra or {}


class Monitoring:
    def __init__(self, local: LocalMonitor, prometheus: PrometheusMonitor | None, cache: AnswerCache) -> None:
        self._local = local
        self._prometheus = prometheus
        self._cache = cache

    def answer(self, service: str | None) -> tuple[bytes, bool]:
        """(the JSON answer, whether it came from the cache); MonitoringError for a request refused."""
        if service is None:
            return self._cache.get("monitoring:", 0, lambda: _body(self._local.answer()))
        if not service or len(service) > MAX_SERVICE:
            raise MonitoringError(400, f"service: a Prometheus job name of 1 to {MAX_SERVICE} characters")
        prometheus = self._prometheus
        if prometheus is None:
            raise MonitoringError(409, f"service={service!r} is answered from Prometheus and none is configured: "
                                       f"set prometheus.url in the config (or {PROMETHEUS_URL_ENV})")
        try:
            return self._cache.get(f"monitoring:job:{service}", 0, lambda: _body(prometheus.answer(service)))
        except PrometheusError as exc:
            extra = {"knownServices": exc.known} if exc.known is not None else {}
            raise MonitoringError(exc.status, str(exc), extra) from exc


def _body(data: dict[str, Any]) -> bytes:
    return orjson.dumps({"success": True, "data": data})
