"""Did an execute help? The vital's p75 before it (measured when it starts) against the loads since it ended.

Two data sources with one `Verifier` signature: the exporter's own histograms (`LocalVerifier`, the numbers
of GET /api/web-vitals) or Prometheus (`PrometheusVerifier`, when `prometheus.url` is set).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from ..summary import SummaryService, quantile
from ..vitals import VITALS
from .model import LoadedPlaybook
from .records import Measurement, Run, Verdict, Verification, iso

log = logging.getLogger(__name__)

# How far back the "before" window reaches when an execute starts.
VERIFY_WINDOW = 3600


class Verifier(Protocol):
    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> Measurement: ...


class LocalVerifier:
    """p75 from the exporter's own histograms and snapshots (the same numbers as GET /api/web-vitals)."""

    def __init__(self, summary: SummaryService, edges: Mapping[str, tuple[float, ...]]) -> None:
        self._summary = summary
        self._edges = edges

    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> Measurement:
        vital = VITALS[metric]
        counts = self._summary.window_counts(start, end, route).get(metric, [])
        value = quantile(0.75, self._edges[metric], counts)
        return {
            "p75": None if value is None else round(vital.to_display(value), 4),
            "unit": vital.display_unit or "score",
            "samples": int(counts[-1]) if counts else 0,
            "from": iso(start),
            "to": iso(end if end is not None else time.time()),
            "source": "exporter",
        }


class PrometheusVerifier:
    """p75 from Prometheus (`prometheus.url`), `histogram_quantile` over `increase` of the buckets."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout

    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> Measurement:
        vital = VITALS[metric]
        at = end if end is not None else time.time()
        seconds = max(60, int(at - start))
        # The route comes from an alert label or a request body: as a JSON string it is also a valid PromQL
        # string (same escapes for quote, backslash and control characters), so it cannot break the query.
        selector = f"{{route={json.dumps(route, ensure_ascii=False)}}}" if route else ""
        query = f"histogram_quantile(0.75, sum by (le) (increase({vital.metric}_bucket{selector}[{seconds}s])))"
        out: Measurement = {"p75": None, "unit": vital.display_unit or "score", "from": iso(at - seconds),
                            "to": iso(at), "source": "prometheus", "query": query}
        url = f"{self._url}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"})
        try:
            with urllib.request.urlopen(url, timeout=self._timeout) as response:
                body = json.loads(response.read())
            result = body["data"]["result"]
            if result:
                value = float(result[0]["value"][1])
                if value == value:  # NaN when no loads arrived in the window
                    out["p75"] = round(vital.to_display(value), 4)
        except (OSError, ValueError, KeyError, IndexError) as exc:
            out["error"] = f"Prometheus query failed: {exc}"
        return out


def vital_of(book: LoadedPlaybook) -> str | None:
    """The Web Vital a playbook improves (the first of its metrics that is one), if any."""
    return next((m for m in book.spec.metric if m in VITALS), None)


def measure_before(verifier: Verifier | None, book: LoadedPlaybook, route: str | None) -> Verification:
    """The vital over the last hour, as an execute starts; a failing data source is no reason to fail the run."""
    metric = vital_of(book)
    if metric is None or verifier is None:
        return Verification(False, reason="no Web Vital to measure" if metric is None else "no data source")
    now = time.time()
    try:
        before = verifier.p75(metric, route, now - VERIFY_WINDOW, None)
    except Exception as exc:  # no measurement is no reason to fail (or never finish) the run
        log.warning("playbook %s: verification unavailable: %s", book.id, exc)
        return Verification(False, reason=f"verification unavailable: {type(exc).__name__}: {exc}")
    return Verification(True, metric=metric, route=route, before=before)


def compare(verifier: Verifier | None, run: Run, *, measure: bool = True) -> Verification | None:
    """Before (measured when the execute started) against after (the loads since it finished).

    With `measure` false, only what was stored (no query of the data source)."""
    stored = run.result.verification
    if (stored is None or not stored.available or stored.metric is None or run.finished_at is None
            or verifier is None or not measure):
        return stored
    try:
        after = verifier.p75(stored.metric, stored.route, run.finished_at, None)
    except Exception as exc:  # a page that shows the run must not fail with its data source
        reason = f"verification unavailable: {type(exc).__name__}: {exc}"
        return replace(stored, after={"p75": None, "error": reason}, verdict="verification unavailable")
    before_value, after_value = (stored.before or {}).get("p75"), after.get("p75")
    if before_value and after_value is not None:
        change = (after_value - before_value) / before_value
        verdict: Verdict = "improved" if change < -0.05 else ("regressed" if change > 0.05 else "unchanged")
        return replace(stored, after=after, change=round(change, 4), verdict=verdict)
    return replace(stored, after=after, verdict="waiting for data")
