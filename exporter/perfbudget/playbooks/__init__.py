"""Playbooks: loading (`model`), alert matching (`matchers`), the audit log (`records`, `store`) and the
runner (`runner` over `execution`, `pool`, `verify` and `recovery`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..config.model import Config
from ..metrics import Metrics
from ..summary import SummaryService
from .model import Playbooks, load_playbooks
from .runner import Runner
from .store import Store, open_store
from .verify import LocalVerifier, PrometheusVerifier, Verifier

__all__ = ["Playbooks", "Runner", "Store", "build_runner", "load_playbooks", "suggest_fix"]


def build_runner(
    config: Config,
    playbooks: Playbooks,
    *,
    metrics: Metrics | None = None,
    summary: SummaryService | None = None,
    edges: Mapping[str, tuple[float, ...]] | None = None,
    attribution: Callable[[str, str | None], list[tuple[str, int]]] | None = None,
) -> Runner:
    """The runner on the configured audit log; verification from Prometheus when configured, else local data."""
    verifier: Verifier | None = None
    if config.prometheus.url:
        verifier = PrometheusVerifier(config.prometheus.url, config.prometheus.timeout_seconds)
    elif summary is not None and edges is not None:
        verifier = LocalVerifier(summary, edges)
    store = open_store(config)
    return Runner(config, playbooks, store, metrics=metrics, verifier=verifier, attribution=attribution)


_IMPACT_ORDER = {"high": 0, "medium": 1, "low": 2}


def suggest_fix(playbooks: Playbooks, metric: str) -> dict[str, Any] | None:
    """The summary's `suggestedFix` for a vital over budget: its highest-impact, lowest-effort playbook."""
    books = [b for b in playbooks.values() if metric in b.spec.metric]
    if not books:
        return None
    best = min(books, key=lambda b: (_IMPACT_ORDER[b.spec.impact], -_IMPACT_ORDER[b.spec.effort]))
    return {
        "playbookId": best.id,
        "name": best.spec.name,
        "expectedImprovement": best.spec.expected_improvement,
        "preview": {"method": "POST", "url": "/api/perf-fix", "body": {"playbookId": best.id, "dryRun": True}},
    }
