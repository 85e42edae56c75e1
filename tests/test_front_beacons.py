"""The front hands beacons straight to the endpoint, with no WSGI environ (server/front.py `_beacon`): for every
kind of beacon request it must answer exactly what the endpoint's WSGI entry answers, and count the same.

Each case runs against two apps built alike: one through the direct path, one with the direct path turned
off (the front then builds the environ and calls the WSGI app, as it did before). The RSGI scope and protocol
are small stand-ins with granian's interface (lower-case header names, `get_all`): the real granian serves
the same front in tests/integration (test_body_caps, test_body_deadlines, test_serving, test_cross_site).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from prometheus_client import CollectorRegistry

from perfbudget.app import close_app, create_app
from perfbudget.config import load_config
from perfbudget.server.front import Front

PATH = "/api/web-vitals"
SHOP = "https://shop.test"
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"


class Headers:
    """granian's RSGI headers: names in lower case, `get` gives the first line, `get_all` every line."""

    def __init__(self, lines: list[tuple[str, str]]) -> None:
        self._lines = [(name.lower(), value) for name, value in lines]

    def get(self, name: str, default: str | None = None) -> str | None:
        return next((value for key, value in self._lines if key == name), default)

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self._lines if key == name]

    def items(self) -> list[tuple[str, str]]:
        return list(self._lines)


class Scope:
    proto = "http"
    http_version = "1.1"
    server = "127.0.0.1:9478"
    scheme = "http"
    query_string = ""

    def __init__(self, method: str, headers: list[tuple[str, str]], client: str) -> None:
        self.method, self.path, self.client = method, PATH, client
        self.headers = Headers(headers)


class Protocol:
    def __init__(self, body: bytes) -> None:
        self._body = body
        self.answer: tuple[int, list[tuple[str, str]], bytes] | None = None

    async def __call__(self) -> bytes:
        return self._body

    async def __aiter__(self) -> AsyncIterator[bytes]:  # a body with no Content-Length, as chunks
        if self._body:
            yield self._body

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer = (status, headers, bytes(body))


Request = tuple[str, list[tuple[str, str]], bytes, str]  # method, header lines, body, client "addr:port"


def beacon(*reports: dict[str, Any]) -> bytes:
    return json.dumps(list(reports)).encode()


def report(name: str = "LCP", value: float = 2300, metric_id: str = "v5-1", **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "delta": value, "id": metric_id, "rating": "good",
            "navigationType": "navigate", "pageUrl": f"{SHOP}/products/7", **extra}


def post(body: bytes, *lines: tuple[str, str], client: str = "192.0.2.1:50000") -> Request:
    return "POST", [("content-type", "text/plain;charset=UTF-8"), ("content-length", str(len(body))), *lines], \
        body, client


LCP_PARTS = {"timeToFirstByte": 300, "resourceLoadDelay": 200, "resourceLoadDuration": 1500,
             "elementRenderDelay": 300, "target": "img.hero", "url": f"{SHOP}/hero.jpg"}
CASES: dict[str, tuple[dict[str, Any], list[Request]]] = {
    "a page view from an allowed origin, device from the user agent": ({}, [post(
        beacon(report(attribution=LCP_PARTS), report("CLS", 0.3, "v5-2"), report("TTFB", 800, "v5-3")),
        ("origin", SHOP), ("user-agent", UA), ("referer", f"{SHOP}/products/7"))]),
    "a batch with bad reports beside good ones": ({}, [post(
        beacon(report(), report("FID", 5, "x"), report(value=-1, metric_id="y")), ("origin", SHOP))]),
    "the same beacon twice: duplicates": ({}, [post(beacon(report()), ("origin", SHOP))] * 2),
    "no pageUrl: the Referer routes it, Sec-CH-UA-Mobile gives the device": ({}, [post(
        beacon({k: v for k, v in report().items() if k != "pageUrl"}),
        ("referer", f"{SHOP}/cart"), ("sec-ch-ua-mobile", "?1"))]),
    "an origin off the allowlist": ({}, [post(beacon(report()), ("origin", "https://evil.test"))]),
    "two Origin lines, joined as WSGI joins them": ({}, [post(
        beacon(report()), ("origin", SHOP), ("origin", "https://evil.test"))]),
    "not JSON": ({}, [post(b"{nope", ("origin", SHOP))]),
    "over the beacon cap, refused from Content-Length": ({"beacons": {"max_body_bytes": 1024}}, [post(
        beacon(*(report(metric_id=f"v5-{i}") for i in range(40))), ("origin", SHOP))]),
    "a preflight, allowed and refused": ({}, [
        ("OPTIONS", [("origin", SHOP), ("access-control-request-method", "POST")], b"", "192.0.2.1:1"),
        ("OPTIONS", [("origin", "https://evil.test")], b"", "192.0.2.1:1"),
        ("OPTIONS", [], b"", "192.0.2.1:1")]),
    "the rate limit, per peer address": ({"beacons": {"rate_limit": "2/minute"}}, [
        post(beacon(report(metric_id=f"r{i}")), ("origin", SHOP), client=f"192.0.2.{i % 2 + 1}:4000")
        for i in range(6)]),
    "the rate limit behind a trusted proxy, per X-Forwarded-For": (
        {"beacons": {"rate_limit": "1/minute"}, "server": {"trusted_proxy_hops": 1}}, [
            post(beacon(report(metric_id="f1")), ("x-forwarded-for", "203.0.113.9"), client="10.0.0.1:1"),
            post(beacon(report(metric_id="f2")), ("x-forwarded-for", "203.0.113.9"), client="10.0.0.1:2"),
            post(beacon(report(metric_id="f3")), ("x-forwarded-for", "198.51.100.4, 203.0.113.10"),
                 ("x-forwarded-for", "203.0.113.11"), client="10.0.0.1:3"),
            post(beacon(report(metric_id="f4")), ("x-forwarded-for", "203.0.113.11"), client="10.0.0.1:4")]),
}
COUNTED = [
    ("perfbudget_reports_accepted_total", {"metric": "LCP"}),
    ("perfbudget_reports_accepted_total", {"metric": "CLS"}),
    ("perfbudget_reports_duplicate_total", {"metric": "LCP"}),
    ("perfbudget_reports_rejected_total", {"reason": "origin_not_allowed"}),
    ("perfbudget_reports_rejected_total", {"reason": "rate_limited"}),
    ("perfbudget_reports_rejected_total", {"reason": "body_too_large"}),
    ("perfbudget_reports_rejected_total", {"reason": "invalid_json"}),
    ("perfbudget_reports_rejected_total", {"reason": "fid_retired"}),
    ("perfbudget_lcp_seconds_count", {"route": "/products/:id", "device": "phone"}),
    ("perfbudget_lcp_seconds_count", {"route": "/cart", "device": "phone"}),
    ("perfbudget_lcp_subpart_seconds_count", {"route": "/products/:id", "device": "phone",
                                              "subpart": "resource_load_duration"}),
    ("http_server_request_duration_seconds_count", {"http_route": PATH, "http_request_method": "POST",
                                                    "http_response_status_code": "200"}),
]


@pytest.fixture
def build(tmp_path: Path) -> Iterator[Callable[[str, dict[str, Any]], tuple[Front, CollectorRegistry]]]:
    apps: list[Flask] = []

    def make(name: str, sections: dict[str, Any]) -> tuple[Front, CollectorRegistry]:
        base = tmp_path / name
        base.mkdir()
        config = {"data_dir": str(base / "data"), "playbooks": {"answer_wait_seconds": 0}, **sections}
        config["beacons"] = {"rate_limit": "off", "allowed_origins": [SHOP], **sections.get("beacons", {})}
        (base / "perfbudget.yml").write_text(yaml.safe_dump(config))
        loaded = load_config(base / "perfbudget.yml", env={})
        registry = CollectorRegistry()
        app = create_app(loaded, registry=registry)
        apps.append(app)
        front = Front(app, body_timeout=10, beacon_cap=loaded.beacons.max_body_bytes, cap=8 << 20, threads=1)
        return front, registry

    yield make
    for app in apps:
        close_app(app)


def counted(registry: CollectorRegistry) -> list[float | None]:
    """COUNTED's values (None: no such series yet, which both paths must agree on too)."""
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in registry.collect() for s in family.samples}
    return [found.get((name, tuple(sorted(labels.items())))) for name, labels in COUNTED]


def answers(front: Front, requests: list[Request]) -> list[tuple[int, list[tuple[str, str]], Any]]:
    async def run() -> list[tuple[int, list[tuple[str, str]], Any]]:
        out = []
        for method, lines, body, client in requests:
            protocol = Protocol(body)
            await front.__rsgi__(Scope(method, lines, client), protocol)  # type: ignore[arg-type]
            assert protocol.answer is not None
            status, headers, payload = protocol.answer
            out.append((status, headers, json.loads(payload) if payload else payload))
        return out

    return asyncio.run(run())


@pytest.mark.parametrize("case", list(CASES))
def test_the_direct_path_answers_and_counts_as_the_wsgi_entry(
    build: Callable[[str, dict[str, Any]], tuple[Front, CollectorRegistry]], case: str
) -> None:
    sections, requests = CASES[case]
    direct, direct_registry = build("direct", sections)
    wsgi, wsgi_registry = build("wsgi", sections)
    assert direct._beacons is not None  # the app's beacon endpoint was found: the direct path is on
    wsgi._beacons = None  # the front as it was: environ_for, then the WSGI app
    got, expected = answers(direct, requests), answers(wsgi, requests)
    assert got == expected
    assert counted(direct_registry) == counted(wsgi_registry)


def test_the_cases_reach_every_answer_the_endpoint_gives(
    build: Callable[[str, dict[str, Any]], tuple[Front, CollectorRegistry]]
) -> None:
    """The comparison above is only worth what its cases reach: every status and the counters moved."""
    statuses: set[int] = set()
    moved: set[str] = set()
    for index, (sections, requests) in enumerate(CASES.values()):
        front, registry = build(f"case{index}", sections)
        statuses |= {status for status, _, _ in answers(front, requests)}
        moved |= {f"{name}{labels}" for (name, labels), value in zip(COUNTED, counted(registry), strict=True) if value}
    assert statuses == {200, 204, 400, 403, 413, 429}
    assert moved == {f"{name}{labels}" for name, labels in COUNTED}
