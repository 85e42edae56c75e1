"""The webhook kind against a real HTTP server on 127.0.0.1 that records what it receives."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from perfbudget.playbooks.actions import KINDS, ActionError
from perfbudget.playbooks.actions.webhook import WebhookParams

from .conftest import MakeCtx, Recorder

KIND = KINDS["webhook"]


def params(recorder: Recorder, **overrides: object) -> WebhookParams:
    return WebhookParams.model_validate({"url": f"{recorder.url}/hooks/purge", "backoff_seconds": 0, **overrides})


def test_apply_posts_json_with_the_run_id_as_idempotency_key(recorder: Recorder, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(run_id="run-42", alert_labels={"alertname": "LcpBudget"}, external_url="https://pb.example/")
    outcome = KIND.apply(ctx, params(recorder, payload={"paths": ["/img/*"]}, headers={"X-Team": "web"}))
    assert outcome.summary.endswith("HTTP 200 after 1 attempt(s)")
    [request] = recorder.requests
    assert request["method"] == "POST" and request["path"] == "/hooks/purge"
    assert request["headers"]["idempotency-key"] == "run-42"
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"]["x-team"] == "web"
    assert request["json"] == {
        "paths": ["/img/*"],
        "runId": "run-42",
        "alertLabels": {"alertname": "LcpBudget"},
        "runUrl": "https://pb.example/api/perf-fix/runs/run-42",
    }


def test_a_503_is_retried_with_the_same_idempotency_key(recorder: Recorder, make_ctx: MakeCtx) -> None:
    recorder.answers = [(503, {"error": "busy"}, {}), (429, {}, {"Retry-After": "0"}), (200, {"ok": True}, {})]
    outcome = KIND.apply(make_ctx(), params(recorder))
    assert outcome.details["attempts"] == 3
    assert [r["headers"]["idempotency-key"] for r in recorder.requests] == ["run-1"] * 3


def test_a_final_4xx_is_not_retried_and_fails_the_action(recorder: Recorder, make_ctx: MakeCtx) -> None:
    recorder.answers = [(400, {"error": "bad"}, {})]
    with pytest.raises(ActionError, match="HTTP 400"):
        KIND.apply(make_ctx(), params(recorder))
    assert len(recorder.requests) == 1


def test_retries_run_out(recorder: Recorder, make_ctx: MakeCtx) -> None:
    recorder.answers = [(500, {}, {})] * 3
    with pytest.raises(ActionError, match="failed after 3 attempt"):
        KIND.apply(make_ctx(), params(recorder, retries=2))


def test_a_dead_endpoint_fails_after_its_timeout(make_ctx: MakeCtx) -> None:
    dead = WebhookParams(url="http://127.0.0.1:9/x", retries=1, backoff_seconds=0, timeout_seconds=0.5)
    with pytest.raises(ActionError, match="failed after 2 attempt"):
        KIND.apply(make_ctx(), dead)


def test_preview_sends_nothing_and_redacts_secrets(
    recorder: Recorder, make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDN_TOKEN", "s3cret")
    p = params(recorder, headers_from_env={"Authorization": "CDN_TOKEN"})
    preview = KIND.preview(make_ctx(), p)
    assert recorder.requests == []
    assert preview.details["headers"]["Authorization"] == "<redacted>"
    assert "s3cret" not in str(preview.to_json())
    KIND.apply(make_ctx(), p)
    assert recorder.requests[0]["headers"]["authorization"] == "s3cret"


def test_a_missing_secret_refuses_to_send(recorder: Recorder, make_ctx: MakeCtx) -> None:
    p = params(recorder, headers_from_env={"Authorization": "PERFBUDGET_TEST_UNSET_VARIABLE"})
    assert "is not set" in KIND.preview(make_ctx(), p).errors[0]
    with pytest.raises(ActionError, match="is not set"):
        KIND.apply(make_ctx(), p)
    assert recorder.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/y", "not a url"])
def test_only_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValidationError, match="is not an http"):
        WebhookParams(url=url)


def test_every_header_from_the_environment_is_redacted_whatever_its_name(
    recorder: Recorder, make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURGE_KEY", "cdn-purge-secret-123")
    p = params(recorder, headers_from_env={"X-Purge-Key": "PURGE_KEY", "Fastly-Key": "PURGE_KEY"},
               headers={"X-Team": "web"})
    preview = KIND.preview(make_ctx(), p)
    assert preview.details["headers"] == {"X-Team": "web", "Idempotency-Key": "run-1",
                                          "X-Purge-Key": "<redacted>", "Fastly-Key": "<redacted>"}
    assert "cdn-purge-secret-123" not in str(preview.to_json())


def test_a_header_whose_value_is_a_configured_secret_is_redacted(recorder: Recorder, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(grafana_token="glsa_configured_secret")
    preview = KIND.preview(ctx, params(recorder, headers={"X-Copied": "glsa_configured_secret"}))
    assert preview.details["headers"]["X-Copied"] == "<redacted>"
    assert "glsa_configured_secret" not in str(preview.to_json())


def test_a_receiver_that_echoes_the_secret_back_does_not_put_it_in_the_result_or_the_error(
    recorder: Recorder, make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURGE_KEY", "cdn-purge-secret-123")
    p = params(recorder, headers_from_env={"X-Purge-Key": "PURGE_KEY"}, retries=0)
    recorder.answers = [(200, {"seen": "cdn-purge-secret-123"}, {}), (403, {"bad key": "cdn-purge-secret-123"}, {})]
    outcome = KIND.apply(make_ctx(), p)
    assert outcome.details["response"] == '{"seen": "<redacted>"}'
    with pytest.raises(ActionError) as refused:
        KIND.apply(make_ctx(), p)
    assert str(refused.value) == f'POST {p.url}: HTTP 403: {{"bad key": "<redacted>"}}'


def test_a_secret_with_a_line_break_is_refused_without_showing_it(
    recorder: Recorder, make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A secret mounted from a file often keeps its final newline; http.client's error would quote it.
    monkeypatch.setenv("PURGE_KEY", "cdn-purge-secret-123\n")
    with pytest.raises(ActionError) as refused:
        KIND.apply(make_ctx(), params(recorder, headers_from_env={"X-Purge-Key": "PURGE_KEY"}))
    assert str(refused.value) == "header X-Purge-Key: its value contains a line break or another control character"
    assert recorder.requests == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_names_its_location(
    recorder: Recorder, make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("CDN_TOKEN", "s3cret-value")
    elsewhere = recorder.url.replace("127.0.0.1", "localhost") + "/collect"
    recorder.answers = [(status, {}, {"Location": elsewhere})]
    with pytest.raises(ActionError) as refused:
        KIND.apply(make_ctx(), params(recorder, headers_from_env={"Authorization": "CDN_TOKEN"}))
    assert f"HTTP {status} redirect to {elsewhere}: not followed" in str(refused.value)
    assert [r["path"] for r in recorder.requests] == ["/hooks/purge"]
