"""The Alertmanager webhook under hostile input: no body or header gets a 5xx or an unhandled exception.

Alertmanager retries a 5xx until the group interval ends, so a body that crashed the handler would be
delivered again and again; every input must be a 200 (recorded) or a final 4xx with a JSON error.
The runner's workers are stopped, so every accepted run stays queued and the queue never fills.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfbudget.web.perffix import playbook_runner

URL = "/api/alertmanager"
TOKEN = "fuzz-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
times = st.sampled_from(["2025-05-01T10:00:00.000Z", "2025-05-01T10:00:00+02:00", "2025-05-01", "0001-01-01T00:00:00Z",
                         "yesterday", "", "2025-13-45T99:99:99Z"]) | st.text(max_size=30) | json_values
labels = st.dictionaries(
    st.sampled_from(["alertname", "metric", "route", "device", "severity"]) | st.text(max_size=12),
    st.sampled_from(["LCP", "INP", "CLS", "WebVitalsBudgetExceeded", "/cart", "phone"]) | st.text(max_size=40),
    max_size=6,
) | json_values
alert_like = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved", "burning", ""]) | json_values, "labels": labels,
     "startsAt": times},
    optional={"annotations": st.dictionaries(st.text(max_size=10), st.text(max_size=40), max_size=3) | json_values,
              "endsAt": times, "generatorURL": st.text(max_size=60) | json_values,
              "fingerprint": st.text(max_size=20) | json_values, "extra": json_values},
)
payload_like = st.fixed_dictionaries(
    {"version": st.sampled_from(["4", "3", 4, None]) | json_values,
     "alerts": st.lists(alert_like, max_size=8) | json_values},
    optional={"receiver": st.text(max_size=20) | json_values, "status": json_values,
              "groupKey": st.text(max_size=40) | json_values, "externalURL": st.text(max_size=40) | json_values,
              "truncatedAlerts": st.integers(min_value=-(2**70), max_value=2**70) | json_values,
              "groupLabels": json_values, "commonLabels": json_values},
)
bodies = st.one_of(
    st.binary(max_size=2048),
    json_values.map(lambda v: json.dumps(v).encode()),
    payload_like.map(lambda v: json.dumps(v).encode()),
    # Surrogates and control characters survive json.dumps as escapes; orjson must refuse them cleanly.
    payload_like.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    app = make_app(auth={"tokens": [{"name": "am", "token": TOKEN}]},
                   playbooks={"queue_size": 100_000, "cooldown_seconds": 0})
    playbook_runner(app).close()  # runs stay queued: the test is about the endpoint, not the actions
    yield app


def _assert_json_answer(answer: Any) -> dict[str, Any]:
    assert answer.status_code < 500, answer.data
    assert answer.mimetype == "application/json", answer.data
    body = answer.json
    assert isinstance(body, dict), answer.data
    return body


@FUZZ
@given(body=bodies)
def test_no_webhook_body_gets_a_5xx_or_an_exception(app: Flask, body: bytes) -> None:
    client: FlaskClient = app.test_client()
    answer = client.post(URL, data=body, headers={**BEARER, "Content-Type": "application/json"})
    payload = _assert_json_answer(answer)
    assert answer.status_code in (200, 400, 413), payload
    if answer.status_code == 400:
        assert payload["error"] == "malformed Alertmanager webhook payload"
        assert payload["errors"] and all(isinstance(e, str) and e.startswith("payload: ") for e in payload["errors"])
    elif answer.status_code == 200:
        data = json.loads(body)
        assert payload["ok"] is True and payload["alerts"] == len(data["alerts"])
        assert all(run["state"] in ("queued", "skipped") for run in payload["runs"])


@FUZZ
@given(body=payload_like)
def test_every_accepted_delivery_is_recorded_and_a_repeat_is_a_duplicate(app: Flask, body: dict[str, Any]) -> None:
    client: FlaskClient = app.test_client()
    first: Any = client.post(URL, json=body, headers=BEARER)
    _assert_json_answer(first)
    if first.status_code != 200:
        return
    runner = playbook_runner(app)
    for run in first.json["runs"]:
        stored = runner.store.get(run["id"], events=True)
        assert stored is not None and stored.playbook == run["playbookId"]
        assert stored.events and stored.events[0]["event"] == run["state"]
    again: Any = client.post(URL, json=body, headers=BEARER)
    assert again.status_code == 200
    # Alertmanager delivers at least once: the same delivery never starts a second run.
    assert [r["id"] for r in again.json["runs"]] == [r["id"] for r in first.json["runs"]]
    assert all(r["duplicate"] for r in again.json["runs"])


# Header values never hold CR or LF (HTTP/1.1 framing; werkzeug's test client refuses them too).
authorizations = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=80),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60).map(lambda t: "Basic " + t),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60).map(lambda t: "Bearer " + t),
    st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=30).map(
        lambda t: "Basic " + base64.b64encode(f"am:{t}".encode("utf-8", "surrogatepass")).decode()),
)


@FUZZ
@given(header=authorizations)
def test_no_authorization_header_gets_a_5xx_and_none_but_the_token_gets_in(app: Flask, header: str) -> None:
    latin1 = header.encode("utf-8", "surrogatepass").decode("latin-1")  # what a WSGI server hands Flask
    answer = app.test_client().post(URL, data=b"{}", headers={"Authorization": latin1,
                                                             "Content-Type": "application/json"})
    body = _assert_json_answer(answer)
    if TOKEN in latin1:
        assert answer.status_code in (400, 401), body
    else:
        assert answer.status_code == 401, body
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="perfbudget"'
