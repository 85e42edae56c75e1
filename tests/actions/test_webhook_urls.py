"""The webhook kind's URLs: redacted wherever a run shows them, and `url_from_env` for URLs that are secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from perfbudget.playbooks.actions import KINDS, ActionError
from perfbudget.playbooks.actions.http_json import redact_url
from perfbudget.playbooks.actions.webhook import WebhookParams

from .conftest import MakeCtx, Recorder

KIND = KINDS["webhook"]


@pytest.mark.parametrize(("url", "shown"), [
    ("https://ci.example.com/job/deploy/build", "https://ci.example.com/job/deploy/build"),
    ("https://ci.example.com/job/build?token=abc&cause=x", "https://ci.example.com/job/build?token=<redacted>&cause=<redacted>"),
    ("https://hooks.slack.com/services/T0A1B2C3D/B0A1B2C3D/abcdefghijklmnopqrstuvwx",
     "https://hooks.slack.com/services/<redacted>/<redacted>/<redacted>"),
    ("https://bot:pw@gitlab.example:8443/api/v4/projects/42/trigger/pipeline?token=t",
     "https://<redacted>@gitlab.example:8443/api/v4/projects/42/trigger/pipeline?token=<redacted>"),
    ("http://[::1]:9/x#frag", "http://[::1]:9/x"),
])
def test_a_url_is_shown_without_credentials_query_values_or_token_like_segments(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_secret_path_and_query_token_never_reach_the_preview(recorder: Recorder, make_ctx: MakeCtx) -> None:
    url = f"{recorder.url}/hooks/pathSecret0123456789/build?token=q-secret-7f3a9c"
    preview = KIND.preview(make_ctx(), WebhookParams(url=url))
    text = str(preview.to_json())
    assert "pathSecret0123456789" not in text and "q-secret-7f3a9c" not in text
    assert preview.summary.endswith(f"to {recorder.url}/hooks/<redacted>/build?token=<redacted>")


def test_a_url_from_the_environment_is_used_and_only_its_host_is_ever_shown(
    recorder: Recorder, make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_URL", f"{recorder.url}/services/envSecretToken42")
    params = WebhookParams(url_from_env="CHAT_URL", backoff_seconds=0, retries=0)
    preview = KIND.preview(make_ctx(), params)
    assert preview.summary.endswith(f"to {recorder.url}/<redacted>") and preview.errors == []
    recorder.answers = [(200, {"echo": "/services/envSecretToken42"}, {})]
    outcome = KIND.apply(make_ctx(), params)
    assert recorder.requests[0]["path"] == "/services/envSecretToken42"
    recorder.answers = [(500, {}, {})]
    with pytest.raises(ActionError) as failed:
        KIND.apply(make_ctx(), params)
    for text in (str(preview.to_json()), str(outcome.to_json()), str(failed.value)):
        assert "envSecretToken42" not in text, text


def test_an_unset_or_non_http_url_variable_refuses_to_send(
    recorder: Recorder, make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = WebhookParams(url_from_env="PERFBUDGET_TEST_UNSET_URL")
    assert "PERFBUDGET_TEST_UNSET_URL is not set" in KIND.preview(make_ctx(), params).errors[0]
    with pytest.raises(ActionError, match="is not set"):
        KIND.apply(make_ctx(), params)
    monkeypatch.setenv("FILE_URL", "file:///etc/passwd")
    with pytest.raises(ActionError, match="does not hold an http"):
        KIND.apply(make_ctx(), WebhookParams(url_from_env="FILE_URL"))
    assert recorder.requests == []


@pytest.mark.parametrize("fields", [{}, {"url": "https://a.example/x", "url_from_env": "X"}])
def test_exactly_one_of_url_and_url_from_env(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="exactly one of url and url_from_env"):
        WebhookParams.model_validate(fields)

