"""The manual kind: guidance with evidence; apply never does anything."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from perfbudget.playbooks.actions import KINDS
from perfbudget.playbooks.actions.manual import ManualParams

from .conftest import MakeCtx

KIND = KINDS["manual"]


def test_preview_lists_the_steps_with_the_attribution_evidence(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(
        attribution={"inp.script": [("/js/vendor.js", 30), ("/js/app.js", 5)], "inp.target": [("#buy", 9)]},
        alert_labels={"route": "/checkout"},
    )
    params = ManualParams(steps=("Split long tasks", "Yield to the main thread"), evidence=("inp.script",), top=1)
    preview = KIND.preview(ctx, params)
    assert preview.summary == "2 manual step(s) for a person; most blamed: /js/vendor.js"
    assert preview.details["evidence"] == {"inp.script": [{"value": "/js/vendor.js", "reports": 30}]}
    assert preview.details["route"] == "/checkout"
    applied = KIND.apply(ctx, params)
    assert applied.summary.startswith("manual action, nothing done automatically")
    assert applied.manifest is None


def test_steps_are_required() -> None:
    with pytest.raises(ValidationError):
        ManualParams(steps=())
