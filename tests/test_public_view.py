"""A run as an anonymous reader sees it (web/public.py): an allowlist of fields, texts without secrets or paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from perfbudget.config import Config
from perfbudget.web.public import Redactor, public_run


def _redactor(make_config: Callable[..., Config], tmp_path: Path) -> Redactor:
    (tmp_path / "site").mkdir(exist_ok=True)
    return Redactor(make_config(site_root=str(tmp_path / "site")))


def test_paths_in_the_site_become_site_paths_and_other_absolute_paths_are_hidden(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    r = _redactor(make_config, tmp_path)
    site, data = tmp_path / "site", tmp_path / "data"
    assert r.text(f"{site}/img/hero.jpg: 120 KiB") == "img/hero.jpg: 120 KiB"
    assert r.text(f"written to {data}/runs/x/preload.html") == "written to <data_dir>/runs/x/preload.html"
    assert r.text("../outside: resolves to /etc/shadow, outside the allowed directories") == (
        "../outside: resolves to <path>, outside the allowed directories")
    # Site URL paths are not file paths: kept.
    assert r.text('<link rel="preload" href="/img/hero.jpg">') == '<link rel="preload" href="/img/hero.jpg">'
    assert r.text("pages/evil.html: /escape/secret.jpg: outside") == "pages/evil.html: /escape/secret.jpg: outside"


def test_urls_in_texts_lose_their_credentials_query_values_and_token_like_segments(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    r = _redactor(make_config, tmp_path)
    text = "POST https://bot:pw@hooks.example/services/T0AAAA1111/hook?token=abc failed"
    assert r.text(text) == "POST https://<redacted>@hooks.example/services/<redacted>/hook?token=<redacted> failed"


def _run() -> dict[str, Any]:
    preview = {"summary": "would POST 10 characters of JSON to https://ci.example/x", "changes": [{"url": "u"}],
               "bytesBefore": None, "bytesAfter": None, "bytesSaved": None, "errors": [],
               "details": {"headers": {"Authorization": "<redacted>"}, "body": {"runId": "r"}}}
    return {
        "id": "r", "playbookId": "p", "mode": "execute", "state": "succeeded", "message": "done",
        "executedActions": [{"id": "a", "summary": "POST https://ci.example/x: HTTP 200", "bytesSaved": None}],
        "pendingManualActions": [{"id": "m", "description": "d", "kind": "manual", "risk": "safe",
                                  "reason": "manual", "preview": preview, "error": None}],
        "trigger": {"type": "alert", "receiver": "internal", "labels": {"alertname": "A", "instance": "10.0.0.1:9100",
                                                                        "route": "/"},
                    "annotations": {"summary": "secret runbook"}, "generatorURL": "http://prom.internal/x",
                    "client": "10.9.9.9", "token": "deployer"},
        "actions": [{"id": "a", "description": "d", "kind": "webhook", "automated": True, "risk": "safe",
                     "status": "applied", "result": preview, "manifest": {"backup": "/srv/backup"},
                     "durationSeconds": 0.1}],
        "options": {"autoApprove": True, "route": None},
        "verification": {"available": True, "metric": "LCP", "route": "/", "verdict": "improved",
                         "before": {"p75": 3.0, "unit": "s", "samples": 40, "query": "histogram_quantile(...)"}},
        "events": [{"ts": 1.0, "event": "running", "owner": "1234:abcd"}],
    }


def test_the_public_run_keeps_what_a_fix_does_and_drops_who_asked_and_the_internals(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    shown = public_run(_run(), _redactor(make_config, tmp_path))
    assert shown["detail"] == "public"
    assert shown["trigger"] == {"type": "alert", "labels": {"alertname": "A", "route": "/"}}
    action = shown["actions"][0]
    assert set(action) == {"id", "description", "kind", "automated", "risk", "status", "result", "durationSeconds"}
    assert set(action["result"]) == {"summary", "changes", "bytesBefore", "bytesAfter", "bytesSaved", "errors"}
    assert shown["pendingManualActions"][0]["preview"] is not None
    assert "details" not in shown["pendingManualActions"][0]["preview"]
    assert shown["verification"]["before"] == {"p75": 3.0, "unit": "s", "samples": 40}
    assert shown["events"] == [{"ts": 1.0, "event": "running"}]
    text = str(shown)
    for internal in ("10.0.0.1", "10.9.9.9", "deployer", "secret runbook", "prom.internal", "internal'",
                     "/srv/backup", "1234:abcd", "histogram_quantile", "Authorization"):
        assert internal not in text, internal
