"""What every write asks of a request (web/writes.py): the server's own origin, and a JSON body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from perfbudget.web.writes import cross_site_reason

HOST = "perfbudget.example:9478"
OWN = frozenset({"https://perfbudget.example.com"})


@pytest.mark.parametrize(("origin", "fetch_site", "refused"), [
    (None, None, False),                                  # curl, Alertmanager
    (None, "same-origin", False),
    (None, "none", False),                                # typed in the address bar, a bookmark
    ("http://perfbudget.example:9478", "same-origin", False),
    ("HTTP://PerfBudget.Example:9478", None, False),      # origins compare case-insensitively
    ("https://perfbudget.example.com", None, False),      # actions.external_url, behind a TLS proxy
    ("https://perfbudget.example.com:443", None, False),  # the default port written out
    ("https://perfbudget.example:9478", None, False),     # the Host it reached, whatever the proxy's scheme
    ("http://perfbudget.example:9479", None, True),       # same host, another port: another origin
    ("https://evil.example", None, True),
    ("null", None, True),                                 # sandboxed frames, file: pages
    ("file://", None, True),
    ("not an origin", None, True),
    (None, "cross-site", True),
    (None, "same-site", True),                            # a sibling subdomain is not this origin
    (None, " Cross-Site ", True),
    ("http://perfbudget.example:9478", "cross-site", True),
])
def test_a_write_is_refused_when_it_says_it_comes_from_another_site(
    origin: str | None, fetch_site: str | None, refused: bool
) -> None:
    reason = cross_site_reason(origin, fetch_site, HOST, "http", OWN)
    assert (reason is not None) == refused, reason
    if refused:
        assert "own pages" in str(reason)


@pytest.mark.parametrize(("path", "body", "headers", "status"), [
    ("/api/perf-fix", b'{"playbookId": "layout-stability"}', {"Content-Type": "text/plain"}, 415),
    ("/api/perf-fix", b'{"playbookId": "layout-stability"}', {"Content-Type": "application/json; charset=utf-8"},
     202),
    ("/api/perf-fix", b'{"playbookId": "layout-stability"}', {}, 415),  # a body needs its type
    ("/api/perf-fix", b"", {}, 400),                                        # no body: nothing to parse, a 400
    ("/api/alertmanager", b"{}", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ("/-/reload", b"", {"Content-Type": "text/plain"}, 415),                # a declared type must be JSON
    ("/api/perf-fix", b'{"playbookId": "layout-stability"}',
     {"Content-Type": "application/json", "Origin": "https://evil.example"}, 403),
    ("/api/perf-fix", b'{"playbookId": "layout-stability"}',
     {"Content-Type": "application/json", "Origin": "http://localhost"}, 202),  # the test client's host
])
def test_writes_take_json_from_their_own_origin(
    make_app: Callable[..., Flask], path: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    client = make_app().test_client()
    answer: Any = client.post(path, data=body, headers=headers)
    assert answer.status_code == status, answer.json
    if status in (403, 415):
        assert answer.json["ok"] is False and answer.json["error"]


def test_reads_and_unknown_routes_are_not_guarded(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert client.get("/api/perf-fix", headers={"Origin": "https://evil.example"}).status_code == 200
    assert client.post("/no/such/route", data=b"x", headers={"Content-Type": "text/plain"}).status_code == 404
