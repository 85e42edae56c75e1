"""Fixtures for the playbook tests: a recording test-only action kind, a playbook directory, the app.

The kind is registered in the one `KINDS` table with `monkeypatch.setitem`, so every test gets it and the
table is restored afterwards.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from pydantic import BaseModel, ConfigDict, Field

from perfbudget.playbooks.actions import KINDS, ActionContext, ActionError, ActionOutcome
from perfbudget.playbooks.records import TERMINAL, Run
from perfbudget.playbooks.runner import Runner
from perfbudget.web.perffix import playbook_runner

TOKEN = "t0ken-for-the-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
BASIC = {"Authorization": "Basic " + base64.b64encode(f"alertmanager:{TOKEN}".encode()).decode()}


class EchoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    note: str = "resize hero.jpg"
    bytes_before: int = Field(default=1000, ge=0)
    sleep: float = 0.0
    fail: bool = False


class EchoKind:
    """Records every call; preview and apply report bytes, apply writes a file that rollback removes."""

    name = "test-echo"
    Params = EchoParams

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []  # (method, run id, note)
        self.lock = threading.Lock()
        self.gate: threading.Event | None = None  # when set by a test, actions wait on it

    def _enter(self, method: str, ctx: ActionContext, params: EchoParams) -> None:
        with self.lock:
            self.calls.append((method, ctx.run_id, params.note))
        if self.gate is not None:
            self.gate.wait(10)
        if params.sleep:
            time.sleep(params.sleep)
        if params.fail:
            raise ActionError(f"{params.note}: refused")

    def preview(self, ctx: ActionContext, params: EchoParams) -> ActionOutcome:
        self._enter("preview", ctx, params)
        return ActionOutcome(summary=f"would {params.note}", bytes_before=params.bytes_before,
                             bytes_after=params.bytes_before // 4, changes=[{"note": params.note}])

    def apply(self, ctx: ActionContext, params: EchoParams) -> ActionOutcome:
        self._enter("apply", ctx, params)
        marker = ctx.run_dir / f"{params.note.replace(' ', '_')}.done"
        marker.write_text("applied")
        return ActionOutcome(summary=f"did {params.note}", bytes_before=params.bytes_before,
                             bytes_after=params.bytes_before // 4, manifest={"file": str(marker)})

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        with self.lock:
            self.calls.append(("rollback", ctx.run_id, str(manifest["file"])))
        Path(manifest["file"]).unlink()
        return ActionOutcome(summary=f"removed {manifest['file']}")


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> EchoKind:
    kind = EchoKind()
    monkeypatch.setitem(KINDS, kind.name, kind)
    return kind


def playbook(**changes: Any) -> dict[str, Any]:
    """A valid test playbook; keyword arguments replace top-level keys."""
    book: dict[str, Any] = {
        "id": "test-images",
        "name": "Test images",
        "metric": "LCP",
        "category": "images",
        "impact": "high",
        "effort": "low",
        "description": "A test playbook.",
        "expectedImprovement": "LCP -20%",
        "match": ['metric=~"LCP"', 'alertname=~"WebVitals.*"'],
        "actions": [
            {"id": "safe-step", "description": "safe", "kind": "test-echo", "automated": True, "risk": "safe",
             "params": {"note": "safe step"}},
            {"id": "moderate-step", "description": "moderate", "kind": "test-echo", "automated": True,
             "risk": "moderate", "params": {"note": "moderate step"}},
            {"id": "manual-step", "description": "by hand", "kind": "test-echo", "automated": False,
             "risk": "safe", "params": {"note": "manual step"}},
        ],
    }
    book.update(changes)
    return book


@pytest.fixture
def book_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "books"
    directory.mkdir()
    (directory / "test-images.yaml").write_text(yaml.safe_dump(playbook()))
    return directory


@pytest.fixture
def pb_app(make_app: Callable[..., Flask], echo: EchoKind, book_dir: Path) -> Callable[..., Flask]:
    """An app with the test playbook directory and a token; keyword sections override the defaults."""

    def make(**sections: Any) -> Flask:
        playbooks = {"directory": str(book_dir), "cooldown_seconds": 0, **sections.pop("playbooks", {})}
        auth = sections.pop("auth", {"tokens": [{"name": "ci", "token": TOKEN}]})
        return make_app(playbooks=playbooks, auth=auth, **sections)

    return make


@pytest.fixture
def app(pb_app: Callable[..., Flask]) -> Flask:
    return pb_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def get(client: FlaskClient, url: str) -> Any:
    """`client.get`, typed loosely so tests can index `.json` directly."""
    return client.get(url)


def post(client: FlaskClient, url: str, json: Any = None, headers: dict[str, str] | None = None) -> Any:
    return client.post(url, json=json, headers=headers or {})


def runner_of(app: Flask) -> Runner:
    return playbook_runner(app)


def wait_run(runner: Runner, run_id: str, timeout: float = 10.0) -> Run:
    """The run once it reached a final state."""
    deadline = time.monotonic() + timeout
    state = "missing"
    while time.monotonic() < deadline:
        run = runner.store.get(run_id, events=True)
        assert run is not None
        state = run.state
        if state in TERMINAL:
            return run
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} did not finish within {timeout}s: {state}")


def alert(status: str = "firing", fingerprint: str = "fp1", starts_at: str = "2025-05-01T10:00:00.000Z",
          **labels: str) -> dict[str, Any]:
    all_labels = {"alertname": "WebVitalsBudgetExceeded", "metric": "LCP", "route": "/cart", "device": "phone",
                  "budget": "lcp", "severity": "warning", **labels}
    return {"status": status, "labels": all_labels, "annotations": {"summary": "LCP over budget"},
            "startsAt": starts_at, "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else
            "2025-05-01T11:00:00.000Z", "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint}


def payload(*alerts: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "4", "groupKey": '{}:{alertname="WebVitalsBudgetExceeded"}', "truncatedAlerts": 0,
        "status": "firing", "receiver": "perfbudget", "groupLabels": {"alertname": "WebVitalsBudgetExceeded"},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts) or [alert()],
    }
    body.update(changes)
    return body


@pytest.fixture
def stopped(app: Flask) -> Iterator[Runner]:
    """The app's runner with its workers stopped: runs stay queued until a test says otherwise."""
    runner = runner_of(app)
    runner.close()
    yield runner
