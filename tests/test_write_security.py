"""Security of the write paths, table-driven: credentials per endpoint and scope, and path escapes in playbooks.

Every write endpoint (the webhook, an execute, a reload) is tried with no token, a wrong one, a token of
another scope and basic credentials; each refusal must change nothing and be counted in
`perfbudget_auth_failures_total{endpoint, reason}` (never with the token in it). Then playbooks whose image
actions point out of the allowed directory (`..`, an absolute path, a symlinked directory, a symlinked file,
an `<img src>` climbing out) are run through the API, as dry runs and executes: each is refused, the run's
audit record says so, and nothing outside is changed or even read (atime checked where the mount keeps it).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from perfbudget.playbooks.store import TERMINAL
from perfbudget.web.perffix import playbook_runner

from .actions.conftest import photo, tree
from .samples import sample, sample_or_zero

SECRETS = {
    "webhook": "webhook-token-0123456789abcdef",
    "execute": "execute-token-0123456789abcdef",
    "reload": "reload-token-00123456789abcdef",
}
TOKENS = [{"name": f"{scope}-only", "token": secret, "scopes": [scope]} for scope, secret in SECRETS.items()]


def _bearer(secret: str) -> str:
    return f"Bearer {secret}"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _alert_payload() -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "perfbudget", "groupKey": "{}:{}", "alerts": [
        {"status": "firing", "labels": {"alertname": "WebVitalsBudgetExceeded", "metric": "LCP", "route": "/"},
         "startsAt": "2025-05-01T10:00:00Z", "fingerprint": "f00d"}]}


@dataclass(frozen=True)
class Endpoint:
    scope: str
    rule: str  # the route template, as the `endpoint` label shows it
    body: Callable[[], Any]
    accepted: int


ENDPOINTS = {
    "webhook": Endpoint("webhook", "/api/alertmanager", _alert_payload, 200),
    "execute": Endpoint("execute", "/api/perf-fix",
                        lambda: {"playbookId": "site-images", "dryRun": False, "autoApprove": True}, 202),
    "reload": Endpoint("reload", "/-/reload", lambda: None, 200),
}


def _other(scope: str) -> str:
    return next(s for s in SECRETS if s != scope)


# (case id, Authorization header for the endpoint's scope or None, expected reason when refused)
CREDENTIALS: list[tuple[str, Callable[[str], str | None], str]] = [
    ("no-header", lambda scope: None, "missing"),
    ("empty-bearer", lambda scope: "Bearer ", "missing"),
    ("unknown-scheme", lambda scope: f"Token {SECRETS[scope]}", "missing"),
    ("basic-without-colon", lambda scope: "Basic " + base64.b64encode(SECRETS[scope].encode()).decode(), "missing"),
    ("basic-not-base64", lambda scope: "Basic %%%not-base64%%%", "missing"),
    ("basic-latin1-garbage", lambda scope: "Basic \xe9\xe8", "missing"),
    ("wrong-bearer", lambda scope: _bearer("not-the-token-0123456789abcdef"), "wrong"),
    ("right-token-plus-a-byte", lambda scope: _bearer(SECRETS[scope] + "x"), "wrong"),
    ("right-token-minus-a-byte", lambda scope: _bearer(SECRETS[scope][:-1]), "wrong"),
    ("basic-wrong-password", lambda scope: _basic("alertmanager", "wrong-password-0123456789"), "wrong"),
    ("another-scopes-bearer", lambda scope: _bearer(SECRETS[_other(scope)]), "scope"),
    ("another-scopes-basic", lambda scope: _basic("alertmanager", SECRETS[_other(scope)]), "scope"),
]


# --- the site, the playbooks, the app ----------------------------------------------------------------


@dataclass
class Site:
    root: Path
    outside: Path
    books: Path


def _book(book_id: str, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"id": book_id, "name": book_id, "metric": "LCP", "category": "images", "impact": "high",
            "effort": "low", "description": "test", "expectedImprovement": "LCP -10%",
            "actions": [{"id": "step", "description": "step", "kind": kind, "automated": True, "risk": "safe",
                         "params": params}]}


IMAGE_PARAMS = {"min_bytes": 1000, "widths": [], "avif_speed": 10}
ESCAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "images-dotdot": ("images", {**IMAGE_PARAMS, "dirs": ["../outside"]}),
    "images-deep-dotdot": ("images", {**IMAGE_PARAMS, "dirs": ["img/../../outside"]}),
    "images-absolute": ("images", {**IMAGE_PARAMS, "dirs": ["{outside}"]}),
    "images-symlinked-dir": ("images", {**IMAGE_PARAMS, "dirs": ["escape"]}),
    "dimensions-dotdot": ("image-dimensions", {"dirs": ["../outside"]}),
    "dimensions-symlinked-dir": ("image-dimensions", {"dirs": ["escape"]}),
}


@pytest.fixture
def site(tmp_path: Path) -> Site:
    root, outside, books = tmp_path / "site", tmp_path / "outside", tmp_path / "books"
    for directory in (root / "img", root / "pages", outside, books):
        directory.mkdir(parents=True)
    photo(320, 200, 1).save(root / "img" / "hero.jpg", "JPEG", quality=95)
    (root / "index.html").write_text('<html><body><img src="img/hero.jpg" alt="hero"></body></html>\n')
    photo(320, 200, 2).save(outside / "secret.jpg", "JPEG", quality=95)
    (outside / "page.html").write_text('<img src="secret.jpg">\n')
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "img" / "linked.jpg").symlink_to(outside / "secret.jpg")
    (root / "pages" / "evil.html").write_text(
        '<img src="../../outside/secret.jpg">\n<img src="/escape/secret.jpg">\n<img src="/img/linked.jpg">\n')
    for book_id, (kind, params) in ESCAPES.items():
        dirs = [d.replace("{outside}", str(outside)) for d in params["dirs"]]
        (books / f"{book_id}.yaml").write_text(yaml.safe_dump(_book(book_id, kind, {**params, "dirs": dirs})))
    legit = _book("site-images", "images", IMAGE_PARAMS)
    legit["actions"].append({"id": "dimensions", "description": "dims", "kind": "image-dimensions",
                             "automated": True, "risk": "safe"})
    (books / "site-images.yaml").write_text(yaml.safe_dump(legit))
    return Site(root.resolve(), outside.resolve(), books)


@pytest.fixture
def make_secure_app(make_app: Callable[..., Flask], site: Site) -> Callable[..., Flask]:
    def make(**auth: Any) -> Flask:
        return make_app(
            site_root=str(site.root),
            auth={"tokens": TOKENS, **auth},
            playbooks={"directory": str(site.books), "execute": ["site-images", *ESCAPES], "cooldown_seconds": 0},
        )

    return make


def _call(client: FlaskClient, endpoint: Endpoint, header: str | None) -> Any:
    headers = {"Authorization": header} if header is not None else {}
    body = endpoint.body()
    return client.post(endpoint.rule, json=body, headers=headers) if body is not None else client.post(
        endpoint.rule, headers=headers)


def _side_effects(app: Flask, registry: CollectorRegistry) -> tuple[int, float, float]:
    """(runs recorded, alerts counted, last reload time): what an accepted write would change."""
    runs = len(playbook_runner(app).store.recent(limit=500))
    return (runs, sample_or_zero(registry, "perfbudget_alerts_received_total", {"status": "firing"}),
            sample(registry, "perfbudget_config_last_reload_success_timestamp_seconds"))


# --- credentials ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS.values(), ids=ENDPOINTS.keys())
@pytest.mark.parametrize(("case", "header", "reason"), CREDENTIALS, ids=[c[0] for c in CREDENTIALS])
def test_a_write_without_the_right_credentials_is_refused_counted_and_changes_nothing(
    make_secure_app: Callable[..., Flask], registry: CollectorRegistry, endpoint: Endpoint, case: str,
    header: Callable[[str], str | None], reason: str,
) -> None:
    app = make_secure_app()
    client = app.test_client()
    before = _side_effects(app, registry)
    time.sleep(0.01)  # a reload would move the timestamp
    presented = header(endpoint.scope)
    answer = _call(client, endpoint, presented)
    assert answer.status_code == 401, answer.json
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="perfbudget"'
    assert endpoint.scope in answer.json["error"]
    assert _side_effects(app, registry) == before
    if (presented or "").startswith("Basic") and endpoint.scope != "webhook":
        reason = "missing"  # Basic is the webhook's alone: anywhere else it is no credential at all
    assert sample(registry, "perfbudget_auth_failures_total",
                  {"endpoint": endpoint.rule, "reason": reason}) == 1
    exposition = registry
    text = "".join(str(sample) for family in exposition.collect() for sample in family.samples)
    assert not any(secret in text or secret[:12] in text for secret in SECRETS.values())


@pytest.mark.parametrize("endpoint", ENDPOINTS.values(), ids=ENDPOINTS.keys())
def test_the_scopes_own_bearer_token_gets_in(
    make_secure_app: Callable[..., Flask], registry: CollectorRegistry, endpoint: Endpoint
) -> None:
    app = make_secure_app()
    answer = _call(app.test_client(), endpoint, _bearer(SECRETS[endpoint.scope]))
    assert answer.status_code == endpoint.accepted, answer.json
    assert sample_or_zero(registry, "perfbudget_auth_failures_total",
                          {"endpoint": endpoint.rule, "reason": "missing"}) == 0


def test_the_webhook_also_takes_its_token_by_basic(make_secure_app: Callable[..., Flask]) -> None:
    endpoint = ENDPOINTS["webhook"]
    answer = _call(make_secure_app().test_client(), endpoint, _basic("alertmanager", SECRETS["webhook"]))
    assert answer.status_code == endpoint.accepted, answer.json


@pytest.mark.parametrize("endpoint", [ENDPOINTS["execute"], ENDPOINTS["reload"]], ids=["execute", "reload"])
def test_basic_credentials_are_refused_for_execute_and_reload_even_with_the_right_token(
    make_secure_app: Callable[..., Flask], registry: CollectorRegistry, endpoint: Endpoint
) -> None:
    # A browser replays cached Basic credentials on a cross-site request by itself; bearer tokens it never adds.
    app = make_secure_app()
    before = _side_effects(app, registry)
    time.sleep(0.01)  # a reload would move the timestamp
    answer = _call(app.test_client(), endpoint, _basic("operator", SECRETS[endpoint.scope]))
    assert answer.status_code == 401, answer.json
    assert _side_effects(app, registry) == before
    assert sample(registry, "perfbudget_auth_failures_total",
                  {"endpoint": endpoint.rule, "reason": "missing"}) == 1


@pytest.mark.parametrize("endpoint", ENDPOINTS.values(), ids=ENDPOINTS.keys())
def test_basic_credentials_are_refused_where_the_config_disallows_them(
    make_secure_app: Callable[..., Flask], registry: CollectorRegistry, endpoint: Endpoint
) -> None:
    app = make_secure_app(allow_basic=False)
    answer = _call(app.test_client(), endpoint, _basic("alertmanager", SECRETS[endpoint.scope]))
    assert answer.status_code == 401
    assert sample(registry, "perfbudget_auth_failures_total",
                  {"endpoint": endpoint.rule, "reason": "missing"}) == 1
    assert _call(app.test_client(), endpoint, _bearer(SECRETS[endpoint.scope])).status_code == endpoint.accepted


@pytest.mark.parametrize("endpoint", ENDPOINTS.values(), ids=ENDPOINTS.keys())
def test_without_any_token_configured_every_write_is_a_403(
    make_app: Callable[..., Flask], registry: CollectorRegistry, site: Site, endpoint: Endpoint
) -> None:
    app = make_app(site_root=str(site.root),
                   playbooks={"directory": str(site.books), "execute": ["site-images"]})
    answer = _call(app.test_client(), endpoint, _bearer(SECRETS[endpoint.scope]))
    assert answer.status_code == 403
    assert "none is configured" in answer.json["error"]
    assert sample(registry, "perfbudget_auth_failures_total",
                  {"endpoint": endpoint.rule, "reason": "unconfigured"}) == 1


def test_an_execute_token_cannot_execute_a_playbook_outside_the_allowlist(
    make_app: Callable[..., Flask], site: Site
) -> None:
    app = make_app(site_root=str(site.root), auth={"tokens": TOKENS},
                   playbooks={"directory": str(site.books), "execute": ["site-images"]})
    answer: Any = app.test_client().post("/api/perf-fix", json={"playbookId": "images-dotdot", "dryRun": False},
                                    headers={"Authorization": _bearer(SECRETS["execute"])})
    assert answer.status_code == 403
    assert "may not execute" in answer.json["error"]
    assert not playbook_runner(app).store.recent()


# --- path escapes in playbook parameters -------------------------------------------------------------------


def _run(client: FlaskClient, playbook: str, dry_run: bool, timeout: float = 20.0) -> dict[str, Any]:
    answer: Any = client.post("/api/perf-fix", json={"playbookId": playbook, "dryRun": dry_run, "autoApprove": True},
                              headers={"Authorization": _bearer(SECRETS["execute"])})
    assert answer.status_code == 202, answer.json
    run_id = answer.json["id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: Any = client.get(f"/api/perf-fix/runs/{run_id}").json
        if run["state"] in TERMINAL:
            return dict(run)
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} of {playbook} did not finish")


def _age(paths: list[Path]) -> dict[Path, float]:
    """Set atime two days back (mtime three): any read now moves atime, even under relatime."""
    now = time.time()
    for path in paths:
        os.utime(path, (now - 2 * 86400, now - 3 * 86400), follow_symlinks=True)
    return {path: path.stat().st_atime for path in paths}


def _atime_is_kept(tmp: Path) -> bool:
    """Whether this filesystem records reads in atime (noatime mounts do not)."""
    probe = tmp / "atime-probe"
    probe.write_bytes(b"x" * 100)
    before = _age([probe])[probe]
    probe.read_bytes()
    return probe.stat().st_atime != before


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "execute"])
@pytest.mark.parametrize("playbook", ESCAPES)
def test_a_playbook_pointing_out_of_the_site_is_refused_and_audited(
    make_secure_app: Callable[..., Flask], site: Site, tmp_path: Path, playbook: str, dry_run: bool
) -> None:
    outside_before, site_before = tree(site.outside), tree(site.root)
    outside_files = [p for p in site.outside.iterdir() if p.is_file()]
    read_check = _atime_is_kept(tmp_path)
    atimes = _age(outside_files)
    client = make_secure_app().test_client()

    run = _run(client, playbook, dry_run)
    if read_check:  # before anything below reads them
        assert {p: p.stat().st_atime for p in outside_files} == atimes, "a file outside the site was read"

    assert run["state"] == "failed", run
    action = run["actions"][0]
    assert action["status"] == "failed"
    assert "outside the allowed directories" in action["error"], action
    assert "failed: step" in run["message"]
    assert [e["event"] for e in run["events"]] == ["queued", "running", "failed"]
    assert run["executedActions"] == []
    if not dry_run:
        assert run["pendingManualActions"][0]["reason"] == "failed"
    assert tree(site.outside) == outside_before
    assert tree(site.root) == site_before


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "execute"])
def test_symlinks_and_img_sources_out_of_the_site_are_skipped_and_reported_while_the_rest_runs(
    make_secure_app: Callable[..., Flask], site: Site, tmp_path: Path, dry_run: bool
) -> None:
    outside_before = tree(site.outside)
    outside_files = [p for p in site.outside.iterdir() if p.is_file()]
    read_check = _atime_is_kept(tmp_path)
    atimes = _age(outside_files)
    client = make_secure_app().test_client()

    run = _run(client, "site-images", dry_run)
    if read_check:  # before anything below reads them
        assert {p: p.stat().st_atime for p in outside_files} == atimes, "a file outside the site was read"

    assert run["state"] == "succeeded", run
    images, dimensions = run["actions"]
    outcome_key = "preview" if dry_run else "result"
    assert images["status"] == ("previewed" if dry_run else "applied")
    images_errors = images[outcome_key]["errors"]
    assert any("linked.jpg" in e and "outside the allowed directories" in e for e in images_errors), images_errors
    assert [c["source"] for c in images[outcome_key]["changes"]] == ["img/hero.jpg"]
    dim_errors = dimensions[outcome_key]["errors"]
    for src in ("../../outside/secret.jpg", "/escape/secret.jpg", "/img/linked.jpg"):
        assert any(f"pages/evil.html: {src}: " in e and "outside the allowed directories" in e for e in dim_errors), (
            src, dim_errors)
    patched = {c["path"] for c in dimensions[outcome_key]["changes"]}
    assert patched == {"index.html"}
    assert tree(site.outside) == outside_before
    assert (site.root / "img" / "hero.jpg.webp").exists() == (not dry_run)
    assert not (site.root / "img" / "linked.jpg.webp").exists()
    assert (site.root / "pages" / "evil.html").read_text().count("width=") == 0
