"""GET /api/performance-monitoring?service=<job>: the same answer for any job Prometheus scrapes, from PromQL
over the standard metrics (OTel's http_server_request_duration_seconds, `up`) and node_exporter's.

The caller names a job, never a query: the job must be one of Prometheus's own active targets
(`/api/v1/targets`), and it is written into fixed queries as an escaped string literal. Resources come from
node_exporter's metrics of that job, or else of the exporters on the same hosts as the job's targets (the
hosts also taken from Prometheus's target list); without either they are None, with the reason.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..thresholds import ServiceThresholds
from .status import decide

HTTP = "http_server_request_duration_seconds"
_RANGE = "1h"


class PrometheusError(Exception):
    """Prometheus could not answer: `status` is the HTTP status to give the caller."""

    def __init__(self, status: int, message: str, known: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.known = known


def _literal(value: str) -> str:
    """A PromQL double-quoted string literal (Go's escaping)."""
    return json.dumps(value)


class PrometheusMonitor:
    def __init__(self, url: str, timeout: float, thresholds: Callable[[], ServiceThresholds],
                 clock: Callable[[], float] = time.time, percentile: float = 95.0) -> None:
        self._url = url.rstrip("/")
        self._percentile = percentile
        self._timeout = timeout
        self._thresholds = thresholds
        self._clock = clock

    def _get(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self._url}{path}?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=self._timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                why = json.load(exc).get("error", "")
            except (OSError, ValueError, AttributeError):
                why = ""
            raise PrometheusError(502, f"Prometheus at {self._url} answered {exc.code} to {path}: {why}") from exc
        except (OSError, ValueError) as exc:
            raise PrometheusError(502, f"Prometheus at {self._url} did not answer {path}: {exc}") from exc
        if body.get("status") != "success":
            raise PrometheusError(502, f"Prometheus at {self._url} refused {path}: {body.get('error')}")
        return body["data"]

    def targets(self) -> dict[str, list[str]]:
        """Per job Prometheus scrapes now, its targets' instance labels."""
        data = self._get("/api/v1/targets", {"state": "active"})
        jobs: dict[str, list[str]] = {}
        for target in data.get("activeTargets", []):
            labels = target.get("labels", {})
            job = labels.get("job")
            if isinstance(job, str):
                jobs.setdefault(job, []).append(str(labels.get("instance", "")))
        return jobs

    def _scalar(self, query: str, at: float) -> float | None:
        result = self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"}).get("result", [])
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if value != value else value  # NaN (0/0): no data

    def _vector(self, query: str, at: float) -> list[tuple[dict[str, str], float]]:
        result = self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"}).get("result", [])
        return [(r["metric"], float(r["value"][1])) for r in result]

    def answer(self, job: str) -> dict[str, Any]:
        jobs = self.targets()
        if job not in jobs:
            known = sorted(jobs)
            raise PrometheusError(404, f"service {job!r} is not a job Prometheus scrapes (its targets' jobs: "
                                       f"{', '.join(known) or 'none'})", known)
        now = self._clock()
        sel = f"job={_literal(job)}"
        count = f"{HTTP}_count{{{sel}}}"
        total = self._scalar(f"sum(increase({count}[{_RANGE}]))", now)
        errors = self._scalar(f'sum(increase({HTTP}_count{{{sel}, http_response_status_code=~"5.."}}[{_RANGE}]))',
                              now) or 0.0
        mean = self._scalar(f"sum(increase({HTTP}_sum{{{sel}}}[{_RANGE}])) / sum(increase({count}[{_RANGE}]))", now)
        q = self._percentile / 100.0
        at = self._scalar(f"histogram_quantile({q:g}, sum by (le) (increase({HTTP}_bucket{{{sel}}}[{_RANGE}])))",
                          now)
        rate = self._scalar(f"sum(rate({count}[{_RANGE}]))", now)
        uptime = self._scalar(f"avg(avg_over_time(up{{{sel}}}[24h])) * 100", now)
        health: dict[str, Any] = {
            "uptime": _round(uptime, 4),
            "responseTime": _round(mean * 1000.0 if mean is not None else None, 3),
            "responseTimePercentile": _round(at * 1000.0 if at is not None else None, 3),
            "latencyPercentile": self._percentile,
            "errorRate": _round(100.0 * errors / total, 4) if total else None,
            "throughput": _round(rate * 60.0 if rate is not None else None, 3),
        }
        resources = self._resources(job, jobs[job], now)
        verdict = decide({**health, **resources}, self._thresholds())
        health.update(status=verdict["status"], breaches=verdict["breaches"], unknown=verdict["unknown"],
                      window={"seconds": 3600, "requests": round(total or 0.0)})
        return {"timestamp": _iso(now), "source": {"kind": "prometheus", "job": job, "url": self._url},
                "systemHealth": health, "apiPerformance": self._api(sel, now), "resourceUsage": resources}

    def _api(self, sel: str, now: float) -> dict[str, Any]:
        by = "sum by (http_request_method, http_route)"
        counts = self._vector(f"{by} (increase({HTTP}_count{{{sel}}}[{_RANGE}]))", now)
        sums = {_key(m): v for m, v in self._vector(f"{by} (increase({HTTP}_sum{{{sel}}}[{_RANGE}]))", now)}
        errors = {_key(m): v for m, v in self._vector(
            f'{by} (increase({HTTP}_count{{{sel}, http_response_status_code=~"5.."}}[{_RANGE}]))', now)}
        out: dict[str, Any] = {}
        for metric, n in sorted(counts, key=lambda item: _key(item[0])):
            key = _key(metric)
            failed = errors.get(key, 0.0)
            out[key] = {
                "avgResponseTime": _round(1000.0 * sums.get(key, 0.0) / n, 3) if n else None,
                "successRate": _round(100.0 * (n - failed) / n, 4) if n else None,
                "callsPerHour": round(n),
                "errorCount": round(failed),
                "lastError": None,  # Prometheus keeps counts, not errors
            }
        return out

    def _resources(self, job: str, instances: list[str], now: float) -> dict[str, Any]:
        hosts = sorted({_host(i) for i in instances if i})
        selectors = [f"job={_literal(job)}"]
        if hosts:
            pattern = "|".join(re.escape(h) for h in hosts)
            selectors.append(f"instance=~{_literal(f'({pattern})(:[0-9]+)?')}")
        for sel in selectors:
            if self._scalar(f"count(node_cpu_seconds_total{{{sel}}})", now):
                return self._node(sel, now)
        reason = (f"no node_exporter metrics for job {job!r} nor for its hosts ({', '.join(hosts) or 'none'}): "
                  "scrape node_exporter on those hosts")
        return {"cpu": None, "memory": None, "disk": None, "network": None,
                "reasons": dict.fromkeys(("cpu", "memory", "disk", "network"), reason)}

    def _node(self, sel: str, now: float) -> dict[str, Any]:
        cpu = self._scalar(f'100 * (1 - avg(rate(node_cpu_seconds_total{{{sel}, mode="idle"}}[5m])))', now)
        memory = self._scalar(f"100 * (1 - sum(node_memory_MemAvailable_bytes{{{sel}}}) / "
                              f"sum(node_memory_MemTotal_bytes{{{sel}}}))", now)
        disk = self._scalar(f'100 * (1 - sum(node_filesystem_avail_bytes{{{sel}, mountpoint="/"}}) / '
                            f'sum(node_filesystem_size_bytes{{{sel}, mountpoint="/"}}))', now)
        nic = f'{sel}, device!="lo"'
        # The busiest direction of the busiest interface, against its link speed (full duplex).
        directions = [self._scalar(f"100 * max(rate(node_network_{way}_bytes_total{{{nic}}}[5m]) / on (instance, "
                                   f"device) (node_network_speed_bytes{{{nic}}} > 0))", now)
                      for way in ("receive", "transmit")]
        known = [d for d in directions if d is not None]
        network = max(known) if known else None
        reasons = {}
        for name, value in (("cpu", cpu), ("memory", memory), ("disk", disk)):
            if value is None:
                reasons[name] = f"node_exporter has no data for {name} ({sel})"
        if network is None:
            reasons["network"] = ("no interface of these hosts reports a link speed (node_network_speed_bytes is "
                                  "missing or 0), so there is no capacity to compare with")
        return {"cpu": _round(cpu, 1), "memory": _round(memory, 1), "disk": _round(disk, 1),
                "network": _round(network, 1), "reasons": reasons}


def _key(metric: dict[str, str]) -> str:
    return f"{metric.get('http_request_method', '_OTHER')} {metric.get('http_route', 'unmatched')}"


def _host(instance: str) -> str:
    """The host of an instance label: `10.0.0.5:8080` -> `10.0.0.5`, `[::1]:9100` -> `::1`."""
    if instance.startswith("["):
        return instance[1:].split("]", 1)[0]
    return instance.rsplit(":", 1)[0] if instance.count(":") == 1 else instance


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
