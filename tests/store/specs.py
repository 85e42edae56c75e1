"""Small families for the store tests."""

from __future__ import annotations

from perfbudget.store import FamilySpec

EDGES = (0.1, 0.5, 1.0, 2.5, 4.0)


def vitals_specs(capacity: int = 64, edges: tuple[float, ...] = EDGES) -> list[FamilySpec]:
    return [
        FamilySpec.histogram("perfbudget_lcp_seconds", "Largest Contentful Paint.", ("route", "device"), edges,
                             capacity=capacity, reserved=[("other", "phone")]),
        FamilySpec.histogram("perfbudget_cls", "Cumulative Layout Shift.", ("route", "device"), (0.1, 0.25),
                             capacity=capacity),
        FamilySpec.counter("perfbudget_reports_rejected_total", "Reports refused, by reason.", ("reason",)),
    ]
