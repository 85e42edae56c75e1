"""HTTP surface: Flask blueprints (one per feature) and the plain-WSGI beacon endpoint in front of them."""

from __future__ import annotations

from flask import Blueprint


def blueprints() -> list[Blueprint]:
    """Every Flask blueprint of the exporter; add a feature's blueprint here."""
    from . import alerts, console, ops, perffix, summary

    return [console.bp, ops.bp, summary.bp, alerts.bp, perffix.bp]
