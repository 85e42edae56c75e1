"""Every error under /api/ is JSON {"ok": false, "error": ...} with its status, 404 and 405 included; the
rest of the server keeps Flask's pages."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.mark.parametrize(("method", "path", "status", "error", "allow"), [
    ("GET", "/api/nope", 404, "no such endpoint: /api/nope", None),
    ("GET", "/api/perf-fix/runs/1/x", 404, "no such endpoint: /api/perf-fix/runs/1/x", None),
    ("DELETE", "/api/web-vitals", 405, "DELETE is not allowed on /api/web-vitals (allowed: ", "GET HEAD OPTIONS POST"),
    ("PUT", "/api/perf-fix", 405, "PUT is not allowed on /api/perf-fix (allowed: ", None),
])
def test_an_api_error_is_json_with_its_status(client: FlaskClient, method: str, path: str, status: int,
                                              error: str, allow: str | None) -> None:
    answer = client.open(path, method=method)
    assert answer.status_code == status
    assert answer.mimetype == "application/json"
    assert answer.json is not None and answer.json["ok"] is False
    assert answer.json["error"].startswith(error)
    if allow is not None:  # POST is taken in front of Flask, and said too
        assert sorted(answer.headers["Allow"].split(", ")) == allow.split()
    if status == 405:
        assert answer.json["error"].rstrip(")").endswith(answer.headers["Allow"])


def test_outside_the_api_a_404_stays_a_page(client: FlaskClient) -> None:
    answer = client.get("/nope")
    assert answer.status_code == 404 and answer.mimetype == "text/html"
