"""Issue 11, point 6: secrets and internals in previews and runs, against `perfbudget serve` with two workers.

A playbook with two webhooks (one URL with a secret path segment and a query token in the file, one from the
environment, `url_from_env`) and an action pointing out of the site is started by an alert (with
annotations, an `instance` label and internal URLs) and by hand with a named token. An anonymous reader of
the runs (the API, the console and the answer to a dry run) sees the previews, and none of the secrets,
client addresses, token names, annotations or absolute paths; a token with the "read" scope sees the whole
run, where the webhook URLs are still redacted and the one from the environment never appears at all.
With `auth.anonymous_reads: false`, every read needs the "read" scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from .stack import Server, beacon, exporter, http, wait_for

pytestmark = pytest.mark.integration
READER = "reader-token-0123456789abcdef"
DEPLOYER = "deployer-token-0123456789abcdef"
HOOK = "alertmanager-token-0123456789abcdef"
TOKENS = [
    {"name": "grafana-reader", "token": READER, "scopes": ["read"]},
    {"name": "deployer-bot", "token": DEPLOYER, "scopes": ["execute"]},
    {"name": "alertmanager", "token": HOOK, "scopes": ["webhook"]},
]
PATH_SECRET = "pathSecret0123456789abcdef"
QUERY_SECRET = "q-secret-7f3a9c"
FILE_URL = f"https://ci.example.com/hooks/{PATH_SECRET}/build?token={QUERY_SECRET}&team=web"
ENV_SECRET = "envOnlySecret987654321zyx"
ENV_URL = f"https://hooks.slack.example/services/T0AAAA/B0BBBB/{ENV_SECRET}"
INTERNAL = ["10.1.2.3", "wiki.internal", "prometheus.internal", "alertmanager.internal", "runbook-7731"]


def _book() -> dict[str, Any]:
    return {
        "id": "notify-ci", "name": "Tell CI", "metric": "LCP", "category": "images", "impact": "high",
        "effort": "low", "description": "test", "expectedImprovement": "LCP -10%",
        "match": ['alertname="CiNotify"'],
        "actions": [
            {"id": "ci", "description": "start a build", "kind": "webhook", "automated": True, "risk": "safe",
             "params": {"url": FILE_URL, "headers": {"X-Team": "web"}}},
            {"id": "chat", "description": "tell the channel", "kind": "webhook", "automated": True, "risk": "safe",
             "params": {"url_from_env": "CHAT_WEBHOOK_URL"}},
            {"id": "dims", "description": "image dimensions", "kind": "image-dimensions", "automated": True,
             "risk": "safe", "params": {"dirs": ["../outside"]}},
            {"id": "hints", "description": "preload hints", "kind": "preload", "automated": True, "risk": "safe"},
        ],
    }


@contextmanager
def _serve(tmp: Path, **auth: Any) -> Iterator[Server]:
    site, books = tmp / "site", tmp / "books"
    for directory in (site / "img", books, tmp / "outside"):
        directory.mkdir(parents=True)
    (site / "index.html").write_text('<html><body><img src="img/hero.jpg"></body></html>\n')
    (books / "notify-ci.yaml").write_text(yaml.safe_dump(_book()))
    config = {"site_root": str(site), "auth": {"tokens": TOKENS, **auth},
              "playbooks": {"directory": str(books), "cooldown_seconds": 0}}
    with exporter(tmp, config=config, env={"CHAT_WEBHOOK_URL": ENV_URL}, workers=2) as srv:
        yield srv


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    tmp = tmp_path_factory.mktemp("redaction")
    with _serve(tmp) as srv:
        yield srv, tmp


def _finished(srv: Server, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        status, run = http("GET", f"{srv.url}/api/perf-fix/runs/{run_id}",
                           headers={"Authorization": f"Bearer {READER}"})
        assert status == 200, run
        return dict(run) if run["state"] not in ("queued", "running") else None

    run: dict[str, Any] = wait_for(done, 60, what=f"run {run_id} finished")
    return run


def _alert_run(srv: Server) -> str:
    payload = {"version": "4", "status": "firing", "receiver": "perfbudget-internal", "groupKey": "{}:{}",
               "externalURL": "http://alertmanager.internal:9093", "alerts": [{
                   "status": "firing", "fingerprint": "c1c1",
                   "labels": {"alertname": "CiNotify", "route": "/", "instance": "10.1.2.3:9100"},
                   "annotations": {"runbook_url": "https://wiki.internal/runbook-7731", "summary": "see runbook-7731"},
                   "startsAt": "2026-01-01T10:00:00Z",
                   "generatorURL": "http://prometheus.internal:9090/graph?g0.expr=up"}]}
    status, answer = http("POST", f"{srv.url}/api/alertmanager", payload, {"Authorization": f"Bearer {HOOK}"})
    assert status == 200, answer
    [run] = answer["runs"]  # no bundled playbook matches: they all match on `metric`
    return str(run["id"])


def _assert_clean(text: str, tmp: Path, *, internals: bool = True, client: bool = True) -> None:
    for secret in (PATH_SECRET, QUERY_SECRET, ENV_SECRET, ENV_URL, "T0AAAA", "B0BBBB"):
        assert secret not in text, (secret, text)
    if internals:
        for internal in [*INTERNAL, "deployer-bot", "grafana-reader", str(tmp), "/tmp/"]:
            assert internal not in text, (internal, text)
    if client:  # the client address the runs were started from (the console shows its own URL: the host)
        assert "127.0.0.1" not in text, text


def test_anonymous_readers_see_previews_without_secrets_or_internals(served: tuple[Server, Path]) -> None:
    srv, tmp = served
    alert_run = _alert_run(srv)
    status, answer = http("POST", f"{srv.url}/api/perf-fix", {"playbookId": "notify-ci", "dryRun": True},
                          {"Authorization": f"Bearer {DEPLOYER}"})
    assert status in (200, 202), answer  # 200 when it ended within playbooks.answer_wait_seconds
    _assert_clean(str(answer), tmp)
    manual_run = str(answer["id"])
    full = {run_id: _finished(srv, run_id) for run_id in (alert_run, manual_run)}

    for run_id in (alert_run, manual_run):
        status, run = http("GET", f"{srv.url}/api/perf-fix/runs/{run_id}")
        assert status == 200, run
        _assert_clean(str(run), tmp)
        assert run["detail"] == "public"
        ci, chat, dims, hints = run["actions"]
        # The previews are there, with what they would do.
        assert ci["preview"]["summary"].startswith("would POST ") and "https://ci.example.com/hooks/" in \
            ci["preview"]["summary"]
        assert chat["preview"]["summary"].endswith("to https://hooks.slack.example/<redacted>"), chat
        assert dims["status"] == "failed" and "outside the allowed directories" in dims["error"], dims
        assert "<path>" in dims["error"] or "<data_dir>" in dims["error"], dims
        assert "preload hint(s)" in hints["preview"]["summary"] and "<data_dir>/runs/" in hints["preview"]["summary"]
        assert "details" not in ci["preview"] and "manifest" not in ci
    alert_public = http("GET", f"{srv.url}/api/perf-fix/runs/{alert_run}")[1]
    assert alert_public["trigger"] == {"type": "alert", "labels": {"alertname": "CiNotify", "route": "/"}}
    manual_public = http("GET", f"{srv.url}/api/perf-fix/runs/{manual_run}")[1]
    assert manual_public["trigger"] == {"type": "manual"}

    status, listing = http("GET", f"{srv.url}/api/perf-fix/runs")
    assert status == 200 and len(listing["runs"]) == 2
    _assert_clean(str(listing), tmp)
    status, page = http("GET", f"{srv.url}/")
    assert status == 200 and "notify-ci" in page and "would POST" in page
    _assert_clean(page, tmp, client=False)

    # A token with the read scope sees the whole run: who asked, from where, the alert's annotations, the
    # request the webhook would send. The URLs stay redacted; the one from the environment never appears.
    alert_full, manual_full = full[alert_run], full[manual_run]
    assert alert_full["trigger"]["annotations"]["summary"] == "see runbook-7731"
    assert alert_full["trigger"]["labels"]["instance"] == "10.1.2.3:9100"
    assert manual_full["trigger"] == {"type": "manual", "token": "deployer-bot", "client": "127.0.0.1"}
    ci_full = manual_full["actions"][0]["preview"]
    assert ci_full["details"]["headers"]["X-Team"] == "web"
    assert ci_full["changes"] == [{"method": "POST", "url": "https://ci.example.com/hooks/<redacted>/build"
                                                           "?token=<redacted>&team=<redacted>"}]
    assert str(tmp) in str(manual_full)  # the operator sees the real paths
    for run in full.values():
        _assert_clean(str(run), tmp, internals=False, client=False)


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with _serve(tmp_path_factory.mktemp("closed"), anonymous_reads=False) as srv:
        yield srv


@pytest.mark.parametrize("path", ["/api/web-vitals", "/api/web-vitals?window=5m", "/api/perf-fix",
                                  "/api/perf-fix/runs", "/api/perf-fix/runs/0000000000a-00000000aa", "/"])
def test_without_anonymous_reads_every_read_needs_the_read_scope(closed: Server, path: str) -> None:
    status, answer = http("GET", f"{closed.url}{path}")
    assert status == 401, answer
    assert answer["ok"] is False and "'read' scope" in answer["error"], answer
    status, answer = http("GET", f"{closed.url}{path}", headers={"Authorization": f"Bearer {DEPLOYER}"})
    assert status == 401, answer
    status, _ = http("GET", f"{closed.url}{path}", headers={"Authorization": f"Bearer {READER}"})
    assert status == (404 if "0000000000a" in path else 200)


def test_without_anonymous_reads_beacons_scrapes_and_probes_stay_open(closed: Server) -> None:
    status, answer = http("POST", f"{closed.url}/api/web-vitals", [beacon("LCP", 1800, "v1-closed")])
    assert status == 200 and answer["received"] == 1, answer
    for path in ("/metrics", "/-/healthy", "/-/ready", "/beacon.js"):
        assert http("GET", f"{closed.url}{path}")[0] == 200, path
