"""Releases: the version label from beacons, bounded by the config's and the announced releases."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from prometheus_client import CollectorRegistry

from perfbudget.config import ConfigError, load_config
from perfbudget.config.releases import ReleasesConfig
from perfbudget.releases import Releases, ReleaseStore

from .samples import sample

TOKEN = "release-token-0123456789"
AUTH = {"tokens": [{"name": "deploy", "token": TOKEN, "scopes": ["reload"]},
                   {"name": "reader", "token": "read-token-0123456789", "scopes": ["read"]}]}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def report(metric_id: str, version: str | None = None, value: float = 2300) -> dict[str, Any]:
    out: dict[str, Any] = {"name": "LCP", "value": value, "delta": value, "id": metric_id, "rating": "good",
                           "navigationType": "navigate", "pageUrl": "https://shop.test/cart"}
    if version is not None:
        out["version"] = version
    return out


def post(app: Flask, body: Any) -> Any:
    return app.test_client().post("/api/web-vitals", data=json.dumps(body).encode(),
                                  headers={"Content-Type": "text/plain;charset=UTF-8"})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_store_keeps_the_n_most_recent_and_a_reannounced_release_becomes_the_newest(tmp_path: Path) -> None:
    store = ReleaseStore(tmp_path / "releases.sqlite", keep=3)
    for i, version in enumerate(["v1", "v2", "v3", "v4"]):
        store.announce(version, 100.0 + i)
    assert [r.version for r in store.announced()] == ["v4", "v3", "v2"]
    store.announce("v2", 200.0)
    assert [r.version for r in store.announced()] == ["v2", "v4", "v3"]
    store.close()
    reopened = ReleaseStore(tmp_path / "releases.sqlite", keep=3)  # a restart: the file keeps them
    assert [(r.version, r.announced_at) for r in reopened.announced()] == [("v2", 200.0), ("v4", 103.0),
                                                                            ("v3", 102.0)]
    reopened.close()


def test_a_worker_learns_a_release_another_announced_within_its_refresh(tmp_path: Path) -> None:
    config = ReleasesConfig(enabled=True, refresh_seconds=2.0)
    writer = ReleaseStore(tmp_path / "releases.sqlite", config.keep)
    clock = Clock()
    reader = Releases(config, ReleaseStore(tmp_path / "releases.sqlite", config.keep), monotonic=clock)
    assert reader.version("v1") == ("other", "unknown_version")
    writer.announce("v1", 1.0)
    assert reader.version("v1") == ("other", "unknown_version")  # read less than refresh_seconds ago
    clock.now = 2.0
    assert reader.version("v1") == ("v1", None)


def test_configured_versions_and_the_pattern_are_known_and_count_toward_keep(tmp_path: Path) -> None:
    config = ReleasesConfig(versions=["a1", "a2"], pattern=r"2026\.\d+\.\d+", keep=3, refresh_seconds=0.1)
    store = ReleaseStore(tmp_path / "releases.sqlite", config.keep)
    clock = Clock()
    releases = Releases(config, store, monotonic=clock)
    assert releases.version("a1") == ("a1", None)
    assert releases.version("2026.12.1") == ("2026.12.1", None)
    assert releases.version("2026.12") == ("other", "unknown_version")
    assert releases.version(None) == ("other", "no_version")
    assert releases.version("other") == ("other", "unknown_version")
    store.announce("b1", 1.0)
    store.announce("b2", 2.0)
    clock.now = 1.0
    assert [r.version for r in releases.releases()] == ["b2", "b1", "a2"]  # a1 is past keep now
    assert releases.version("a1") == ("other", "unknown_version")


def test_without_releases_there_is_no_version_label_and_the_api_says_how_to_turn_them_on(
        app: Flask, registry: CollectorRegistry) -> None:
    assert post(app, report("a", "v1")).status_code == 200
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'version="v1"' not in text and "perfbudget_version_other_total" not in text
    answer = app.test_client().get("/api/releases")
    assert answer.status_code == 404 and "releases.enabled: true" in answer.json["error"]


def test_post_needs_a_token_with_the_reload_scope_then_beacons_count_under_the_release(
        make_app: Callable[..., Flask], registry: CollectorRegistry) -> None:
    app = make_app(releases={"enabled": True, "refresh_seconds": 0.1}, auth=AUTH)
    client = app.test_client()
    assert client.post("/api/releases", json={"version": "2026.12.1"}).status_code == 401
    wrong = client.post("/api/releases", json={"version": "2026.12.1"},
                        headers={"Authorization": "Bearer read-token-0123456789"})
    assert wrong.status_code == 401 and "'reload' scope" in wrong.json["error"]
    answer = client.post("/api/releases", json={"version": "2026.12.1"}, headers=BEARER)
    assert answer.status_code == 200
    assert answer.json["version"] == "2026.12.1" and answer.json["keep"] == 10
    assert [r["version"] for r in answer.json["releases"]] == ["2026.12.1"]
    assert client.get("/api/releases").json["releases"][0]["source"] == "api"
    time.sleep(0.2)  # past refresh_seconds: this worker reads the list again
    post(app, [report("a", "2026.12.1"), report("b", "2026.12.1"), report("c", "2026.99.9"), report("d")])
    lcp = "perfbudget_lcp_seconds_count"
    assert sample(registry, lcp, {"route": "/cart", "device": "unknown", "version": "2026.12.1"}) == 2
    assert sample(registry, lcp, {"route": "/cart", "device": "unknown", "version": "other"}) == 2
    assert sample(registry, "perfbudget_version_other_total", {"reason": "unknown_version"}) == 1
    assert sample(registry, "perfbudget_version_other_total", {"reason": "no_version"}) == 1
    summary = client.get("/api/web-vitals?version=2026.12.1").json
    assert summary["metrics"]["LCP"]["samples"] == 2 and summary["filter"]["version"] == "2026.12.1"
    assert client.get("/api/web-vitals?version=other").json["metrics"]["LCP"]["samples"] == 2


@pytest.mark.parametrize(("body", "error"), [
    ({}, "version: required field is missing"),
    ({"version": 3}, "version: expected a string, got int"),
    ({"version": "v 1"}, "version: 'v 1' is not a version: 1 to 64 letters, digits and . _ + - (starting with a "
                         "letter or digit)"),
    ({"version": "other"}, "version: 'other' is the label of unknown versions; a release cannot be named so"),
    ({"version": "v1", "when": 1}, "body: unknown field 'when' (the only field is version)"),
    ([], 'body: expected a JSON object like {"version": "2024.06.1"}'),
])
def test_a_bad_release_is_a_400_saying_what_is_wrong(make_app: Callable[..., Flask], body: Any, error: str) -> None:
    app = make_app(releases={"enabled": True}, auth=AUTH)
    answer = app.test_client().post("/api/releases", json=body, headers=BEARER)
    assert answer.status_code == 400 and answer.json["error"] == error


def test_a_release_past_the_slabs_room_is_counted_as_other_not_refused(
        make_app: Callable[..., Flask], registry: CollectorRegistry) -> None:
    # max_routes 1, keep 1: (1 + 2 routes) x 4 devices x 2 slots for known versions = 24 per vital, the rest
    # (one per route and device) for other.
    app = make_app(releases={"pattern": r"v\d+", "keep": 1}, routes={"max_routes": 1})
    for first in (0, 20):
        assert post(app, [report(f"id{i}", f"v{i}") for i in range(first, first + 20)]).json["received"] == 20
    lcp = "perfbudget_lcp_seconds_count"
    assert [sample(registry, lcp, {"route": "/cart", "device": "unknown", "version": f"v{i}"}) for i in range(24)] \
        == [1] * 24
    assert sample(registry, lcp, {"route": "/cart", "device": "unknown", "version": "other"}) == 16
    assert sample(registry, "perfbudget_version_other_total", {"reason": "slab_full"}) == 16
    assert 'version="v24"' not in app.test_client().get("/metrics").get_data(as_text=True)


@pytest.mark.parametrize(("releases", "error"), [
    ({"versions": ["v1", "v1"]}, "releases.versions: ['v1', 'v1']: a version is listed twice"),
    ({"versions": ["bad version"]}, "is not a version"),
    ({"pattern": "("}, "releases.pattern: '(': '(' is not a regular expression"),
    ({"versions": ["a", "b"], "keep": 1}, "2 versions listed but keep is 1: raise releases.keep or list fewer"),
])
def test_bad_releases_are_refused_with_the_key_and_the_reason(tmp_path: Path, releases: Any, error: str) -> None:
    path = tmp_path / "perfbudget.yml"
    path.write_text(yaml.safe_dump({"releases": releases}))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert any(error in line for line in caught.value.errors), caught.value.errors
