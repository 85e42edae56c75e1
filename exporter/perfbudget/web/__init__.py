"""HTTP surface: Flask blueprints (one per feature) and the plain-WSGI beacon endpoint in front of them."""

from __future__ import annotations

from flask import Blueprint


def blueprints() -> list[Blueprint]:
    """Every Flask blueprint of the exporter; add a feature's blueprint here."""
    from . import ops, summary

    return [ops.bp, summary.bp]
