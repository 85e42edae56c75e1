"""One sample's value from a registry or from exposition text, where a missing series fails the test.

A helper that turns a missing series into 0 lets a misspelt metric or label pass an `== 0` check, and makes
"never counted" and "counted zero times" look the same; both are worth telling apart in a test.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.parser import text_string_to_metric_families

# A family named x holds samples named x, x_total, x_count, ...
_SUFFIXES = ("", "_total", "_created", "_count", "_sum", "_bucket", "_gcount", "_gsum", "_info")


def _families(source: CollectorRegistry | str) -> list[Metric]:
    """A registry is read as it is (pass `registry` for what /metrics shows)."""
    return list(text_string_to_metric_families(source) if isinstance(source, str) else source.collect())


def _selector(name: str, labels: Mapping[str, str]) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _declared(families: list[Metric], name: str) -> bool:
    return any(name == family.name + suffix for family in families for suffix in _SUFFIXES)


def sample(source: CollectorRegistry | str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The value of the series `name` with exactly `labels` (like `get_sample_value`); AssertionError if it
    does not exist, naming it and the closest series that do."""
    wanted = dict(labels or {})
    families = _families(source)
    present = [(s.name, dict(s.labels), float(s.value)) for family in families for s in family.samples]
    for sample_name, sample_labels, value in present:
        if sample_name == name and sample_labels == wanted:
            return value
    missing = f"no series {_selector(name, wanted)}"
    same_name = sorted(_selector(n, ls) for n, ls, _ in present if n == name)
    if same_name:
        shown = ", ".join(same_name[:10]) + (", ..." if len(same_name) > 10 else "")
        raise AssertionError(f"{missing}; {name} has: {shown}")
    if _declared(families, name):
        raise AssertionError(f"{missing}; the metric has no series yet (a labelled one gets its first at first use)")
    names = {n for n, _, _ in present} | {family.name for family in families}
    close = difflib.get_close_matches(name, sorted(names), n=5)
    raise AssertionError(f"{missing}; no metric of that name" + (f" (close: {', '.join(close)})" if close else ""))


def sample_or_zero(source: CollectorRegistry | str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """Like `sample`, but a series never created reads as 0: a labelled counter has no series until its first
    increment, so "nothing was counted" can mean absent. Use it only for that. The metric itself must exist,
    so a misspelt name still fails."""
    families = _families(source)
    if not _declared(families, name):
        return sample(source, name, labels)  # fails, naming the close metrics
    wanted = dict(labels or {})
    return next((float(s.value) for family in families for s in family.samples
                 if s.name == name and dict(s.labels) == wanted), 0.0)
