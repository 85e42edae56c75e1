"""Issue 11, point 11: cross-site requests, against `perfbudget serve` with two workers.

Every write (a run by hand, the webhook, a reload) takes `application/json` only (415 otherwise) and refuses a
request that says it comes from another site (`Origin`, `Sec-Fetch-Site`) with a 403; in a real Chromium, a
`text/plain` form and a no-cors `fetch` on another origin start no run. The beacon endpoint keeps taking
`sendBeacon`'s cross-origin `text/plain` from its allowed origins. HTTP Basic is taken for the webhook alone.
The console sends its Content-Security-Policy and framing, sniffing and referrer headers.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .browser import chromium
from .stack import Server, beacon, exporter, http, wait_for

pytestmark = pytest.mark.integration
TOKEN = "cross-site-test-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SHOP = "https://shop.example"
DRY_RUN = {"playbookId": "layout-stability", "dryRun": True}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("cross-site")
    config = {"beacons": {"allowed_origins": [SHOP]}, "playbooks": {"cooldown_seconds": 0}}
    with exporter(tmp, config=config, env={"PERFBUDGET_API_TOKEN": TOKEN}, workers=2) as srv:
        yield srv


def _runs(srv: Server) -> int:
    status, body = http("GET", f"{srv.url}/api/perf-fix/runs?limit=500", headers=BEARER)
    assert status == 200, body
    return len(body["runs"])


def _raw(srv: Server, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
    return http("POST", f"{srv.url}{path}", body, headers)


def _basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"operator:{password}".encode()).decode()


ALERT = {"version": "4", "status": "firing", "receiver": "perfbudget", "groupKey": "{}:{}", "alerts": []}


@pytest.mark.parametrize(("path", "body", "auth"), [
    ("/api/perf-fix", DRY_RUN, {}),
    ("/api/perf-fix", {**DRY_RUN, "dryRun": False}, BEARER),
    ("/api/alertmanager", ALERT, BEARER),
    ("/-/reload", {}, BEARER),
], ids=["dry-run", "execute", "webhook", "reload"])
@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/json-patch+json"])
def test_every_write_takes_application_json_only(
    served: Server, path: str, body: dict[str, Any], auth: dict[str, str], content_type: str
) -> None:
    before = _runs(served)
    status, answer = _raw(served, path, json.dumps(body).encode(), {**auth, "Content-Type": content_type})
    assert status == 415, answer
    assert answer["ok"] is False and "application/json" in answer["error"], answer
    assert _runs(served) == before


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},  # this host, another port: another origin
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
], ids=["foreign-origin", "null-origin", "other-port", "fetch-cross-site", "fetch-same-site", "both"])
@pytest.mark.parametrize(("path", "body", "auth"), [
    ("/api/perf-fix", DRY_RUN, {}),
    ("/api/perf-fix", {**DRY_RUN, "dryRun": False}, BEARER),
    ("/api/alertmanager", ALERT, BEARER),
    ("/-/reload", None, BEARER),
], ids=["dry-run", "execute", "webhook", "reload"])
def test_a_write_from_another_site_is_refused_even_as_json_with_the_token(
    served: Server, path: str, body: dict[str, Any] | None, auth: dict[str, str], headers: dict[str, str]
) -> None:
    before = _runs(served)
    status, answer = http("POST", f"{served.url}{path}", body, {**auth, **headers})
    assert status == 403, answer
    assert answer["ok"] is False and "own pages" in answer["error"], answer
    assert _runs(served) == before


def test_the_servers_own_origin_and_clients_without_one_may_write(served: Server) -> None:
    before = _runs(served)
    own = {"Origin": served.url, "Sec-Fetch-Site": "same-origin"}
    accepted = (200, 202)  # 200 when the run ended within playbooks.answer_wait_seconds
    assert http("POST", f"{served.url}/api/perf-fix", DRY_RUN, own)[0] in accepted
    assert http("POST", f"{served.url}/api/perf-fix", DRY_RUN, {"Sec-Fetch-Site": "none"})[0] in accepted
    assert http("POST", f"{served.url}/api/perf-fix", DRY_RUN)[0] in accepted  # curl: neither header
    status, answer = http("POST", f"{served.url}/api/alertmanager", ALERT, BEARER)
    assert status == 200, answer
    assert _runs(served) == before + 3


def test_a_reload_with_no_body_and_no_content_type_is_taken_as_curl_sends_it(served: Server) -> None:
    # curl -X POST http://.../-/reload -H 'Authorization: Bearer ...': no body, so nothing to parse.
    request = urllib.request.Request(f"{served.url}/-/reload", method="POST", headers=BEARER)
    assert request.get_header("Content-type") is None
    status, answer = http("POST", f"{served.url}/-/reload", None, BEARER)
    assert status == 200, answer
    wait_for(lambda: http("GET", f"{served.url}/-/ready")[0] == 200, 60, what="workers back after the reload")
    status, answer = _raw(served, "/-/reload", b"x", {**BEARER, "Content-Type": "text/plain"})
    assert status == 415, answer


@pytest.mark.parametrize(("path", "body", "scope_ok"), [
    ("/api/perf-fix", {**DRY_RUN, "dryRun": False}, False),
    ("/-/reload", None, False),
    ("/api/alertmanager", ALERT, True),
], ids=["execute", "reload", "webhook"])
def test_basic_credentials_open_the_webhook_only(
    served: Server, path: str, body: dict[str, Any] | None, scope_ok: bool
) -> None:
    status, answer = http("POST", f"{served.url}{path}", body, {"Authorization": _basic(TOKEN)})
    if scope_ok:
        assert status == 200, answer
    else:
        assert status == 401, answer
        assert "Bearer" in answer["error"]


def test_beacons_keep_taking_send_beacons_cross_origin_text_plain(served: Server) -> None:
    body = json.dumps([beacon("LCP", 1800, "v1-cross-site", page=f"{SHOP}/cart")]).encode()
    plain = {"Content-Type": "text/plain;charset=UTF-8", "Origin": SHOP, "Sec-Fetch-Site": "cross-site"}
    status, answer = http("POST", f"{served.url}/api/web-vitals", body, plain)
    assert status == 200 and answer["received"] == 1, answer
    status, answer = http("POST", f"{served.url}/api/web-vitals", body, {**plain, "Origin": "https://evil.example"})
    assert status == 403, answer


def test_the_console_sends_csp_framing_sniffing_and_referrer_headers(served: Server) -> None:
    with urllib.request.urlopen(f"{served.url}/", timeout=10) as page:
        headers = page.headers
        html = page.read().decode()
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin")
    assert "<script>" not in html and "<style>" not in html and " on" + "click=" not in html
    for asset, mimetype in (("/console.js", "text/javascript"), ("/console.css", "text/css")):
        with urllib.request.urlopen(f"{served.url}{asset}", timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith(mimetype)
            assert answer.headers["X-Content-Type-Options"] == "nosniff"


# --- in a real Chromium -------------------------------------------------------------------------------------

ATTACK = """<!doctype html><html><body>
<form id="form" method="POST" action="{target}/api/perf-fix" enctype="text/plain">
<input type="hidden" name='{{"playbookId":"layout-stability","dryRun":true,"x":"' value='"}}'>
</form>
<script>
fetch('{target}/api/perf-fix', {{method: 'POST', mode: 'no-cors', headers: {{'Content-Type': 'text/plain'}},
  body: '{{"playbookId":"layout-stability","dryRun":true}}'}}).finally(function () {{
    document.title = 'fetched';
    document.getElementById('form').submit();
  }});
</script>
</body></html>
"""


@contextmanager
def _attacker(target: str) -> Iterator[int]:
    page = ATTACK.format(target=target).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"], ids=["cross-site", "same-site-other-port"])
def test_a_text_plain_form_and_a_no_cors_fetch_on_another_origin_start_no_run_in_chromium(
    served: Server, host: str
) -> None:
    before = _runs(served)
    with _attacker(served.url) as port, chromium() as browser:
        page = browser.new_page()
        answers: list[int] = []
        page.on("response", lambda response: answers.append(response.status)
                if response.url.endswith("/api/perf-fix") else None)
        page.goto(f"http://{host}:{port}/")
        # The form's answer replaces the page once the fetch has gone out.
        page.wait_for_url(f"{served.url}/api/perf-fix", timeout=30_000)
        text = page.inner_text("body")
        assert "own pages" in text, text
    assert 403 in answers and 202 not in answers, answers
    assert _runs(served) == before  # a run is recorded before its 202: none is in flight
