"""The grafana-annotation kind.

Grafana itself cannot be installed here, so the server is a stand-in: a real HTTP server on 127.0.0.1
that records requests and answers as Grafana's annotations API does (`{"message", "id"}` on POST).
"""

from __future__ import annotations

import re

import pytest

from perfbudget.playbooks.actions import KINDS, ActionContext, ActionError
from perfbudget.playbooks.actions.grafana_annotation import GrafanaAnnotationParams

from .conftest import MakeCtx, Recorder

KIND = KINDS["grafana-annotation"]


def configured(make_ctx: MakeCtx, recorder: Recorder) -> ActionContext:
    return make_ctx(
        run_id="run-7",
        alert_labels={"alertname": "InpBudget", "route": "/checkout", "instance": "web-1"},
        grafana_url=recorder.url + "/",
        grafana_token="glsa_test",
        external_url="https://perfbudget.example",
    )


def test_apply_posts_the_annotation_and_rollback_deletes_it(recorder: Recorder, make_ctx: MakeCtx) -> None:
    recorder.answers = [(200, {"message": "Annotation added", "id": 17}, {})]
    ctx = configured(make_ctx, recorder)
    params = GrafanaAnnotationParams(tags=("perfbudget", "inp"), dashboard_uid="web-vitals")
    outcome = KIND.apply(ctx, params)
    [post] = recorder.requests
    assert post["method"] == "POST" and post["path"] == "/api/annotations"
    assert post["headers"]["authorization"] == "Bearer glsa_test"
    body = post["json"]
    assert body["tags"] == ["perfbudget", "inp", "run:run-7", "alertname:InpBudget", "route:/checkout"]
    assert body["dashboardUID"] == "web-vitals"
    assert '<a href="https://perfbudget.example/api/perf-fix/runs/run-7">run details</a>' in body["text"]
    assert isinstance(body["time"], int) and body["time"] > 1_600_000_000_000
    assert outcome.manifest == {"version": 1, "kind": "grafana-annotation", "annotationId": 17}

    undone = KIND.rollback(ctx, outcome.manifest)
    assert recorder.requests[1]["method"] == "DELETE"
    assert recorder.requests[1]["path"] == "/api/annotations/17"
    assert undone.summary == "annotation 17 deleted"


def test_preview_sends_nothing_and_hides_the_token(recorder: Recorder, make_ctx: MakeCtx) -> None:
    preview = KIND.preview(configured(make_ctx, recorder), GrafanaAnnotationParams())
    assert recorder.requests == []
    assert "glsa_test" not in str(preview.to_json())


def test_without_grafana_configured_preview_says_so_and_apply_refuses(make_ctx: MakeCtx) -> None:
    assert "grafana_url" in KIND.preview(make_ctx(), GrafanaAnnotationParams()).errors[0]
    with pytest.raises(ActionError, match=re.escape("grafana_url and actions.grafana_token")):
        KIND.apply(make_ctx(), GrafanaAnnotationParams())


def test_a_refused_token_fails_the_action(recorder: Recorder, make_ctx: MakeCtx) -> None:
    recorder.answers = [(401, {"message": "invalid API key"}, {})]
    with pytest.raises(ActionError, match="HTTP 401"):
        KIND.apply(configured(make_ctx, recorder), GrafanaAnnotationParams())


def test_the_token_never_reaches_an_error_even_when_grafana_echoes_it(recorder: Recorder, make_ctx: MakeCtx) -> None:
    recorder.answers = [(400, {"message": "bad header: Bearer glsa_test"}, {})]
    with pytest.raises(ActionError) as refused:
        KIND.apply(configured(make_ctx, recorder), GrafanaAnnotationParams())
    assert "glsa_test" not in str(refused.value) and "Bearer <redacted>" in str(refused.value)


def test_a_token_with_a_line_break_is_refused_without_showing_it(recorder: Recorder, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(grafana_url=recorder.url, grafana_token="glsa_test\n")
    with pytest.raises(ActionError) as refused:
        KIND.apply(ctx, GrafanaAnnotationParams())
    assert "glsa_test" not in str(refused.value)
    assert recorder.requests == []
