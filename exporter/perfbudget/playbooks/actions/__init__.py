"""Playbook action kinds: one module per kind, one table mapping kind names to them."""

from __future__ import annotations

from . import (
    cache_headers,
    command,
    grafana_annotation,
    image_dimensions,
    images,
    js_audit,
    manual,
    preload,
    webhook,
)
from .base import ActionContext, ActionError, ActionKind, ActionOutcome, ActionParams, PathRefused

# The one table of kinds (like blackbox_exporter's probers): the runner and playbook loader look here only.
KINDS: dict[str, ActionKind] = {
    kind.name: kind
    for kind in (
        images.KIND,
        preload.KIND,
        image_dimensions.KIND,
        cache_headers.KIND,
        js_audit.KIND,
        webhook.KIND,
        grafana_annotation.KIND,
        command.KIND,
        manual.KIND,
    )
}

__all__ = ["KINDS", "ActionContext", "ActionError", "ActionKind", "ActionOutcome", "ActionParams", "PathRefused"]
