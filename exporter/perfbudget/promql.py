"""A small client of Prometheus's HTTP query API (`/api/v1/query`, `/api/v1/query_range`), shared by
everything that reads PromQL: reports, compare, the summary's windows over several replicas.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

Progress = Callable[[str], None]


class PrometheusError(RuntimeError):
    pass


def is_prometheus(url: str, timeout: float = 10.0) -> bool:
    """Whether `url` is a Prometheus server (its /api/v1/status/buildinfo answers)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/status/buildinfo", timeout=timeout) as response:
            body = json.loads(response.read())
    except (urllib.error.URLError, ValueError, OSError):
        return False
    return isinstance(body, dict) and body.get("status") == "success" and "version" in (body.get("data") or {})


def matchers(selector: Mapping[str, str]) -> str:
    return ",".join(f"{key}={json.dumps(value)}" for key, value in sorted(selector.items()))


def seconds(value: float) -> str:
    return f"{max(1, round(value))}s"


class PrometheusClient:
    def __init__(self, url: str, progress: Progress = lambda line: None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._progress = progress
        self._timeout = timeout
        self.queries = 0

    def _get(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        self.queries += 1
        self._progress(f"prometheus: query {self.queries}: {params['query'][:90]}")
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self._timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise PrometheusError(f"{self.url}: {params['query']!r}: HTTP {exc.code}: {exc.read()[:300]!r}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise PrometheusError(f"{self.url}: {params['query']!r}: {exc}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"{self.url}: {params['query']!r}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def query(self, query: str, at: float) -> list[dict[str, Any]]:
        return self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"})

    def query_range(self, query: str, start: float, end: float, step: int) -> list[dict[str, Any]]:
        return self._get("/api/v1/query_range", {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                                 "step": str(step)})
