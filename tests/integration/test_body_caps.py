"""Issue 11, point 4: every endpoint's body is capped before it is read (8 MiB for Flask's endpoints, the
Alertmanager webhook's size; the beacon cap for beacons), with a 413 JSON answer; chunked bodies too."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from .stack import Server, exporter, http

pytestmark = pytest.mark.integration

TOKEN = "body-caps-test-token-0123456789"
CAP = 8 << 20


@pytest.fixture(scope="module", params=["granian", "gunicorn"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = {"auth": {"tokens": [{"name": "am", "token": TOKEN}]}}
    with exporter(tmp_path_factory.mktemp(f"caps-{request.param}"), workers=2, server=request.param,
                  config=config) as srv:
        yield srv


def _response(sock: socket.socket, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _request_head(path: str, extra: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {TOKEN}\r\n{extra}\r\n").encode()


@pytest.mark.parametrize("path", ["/api/perf-fix", "/api/alertmanager"])
def test_a_declared_300_mb_body_is_refused_before_a_byte_of_it_is_read(served: Server, path: str) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(_request_head(path, f"Content-Length: {300 << 20}\r\n"))
        started = time.monotonic()
        status, _, body = _response(sock)
    assert time.monotonic() - started < 5
    assert status == 413
    answer = json.loads(body)
    assert answer["ok"] is False and str(CAP) in answer["error"]


def test_a_chunked_body_is_cut_off_at_the_cap(served: Server, request: pytest.FixtureRequest) -> None:
    if "gunicorn" in request.node.callspec.id:
        pytest.skip("gunicorn's sync workers read what the view reads; the README asks for a buffering proxy")
    piece = b"[" + b"1," * 32767 + b"1]"  # 64 KiB of JSON per chunk
    sent = 0
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(_request_head("/api/perf-fix", "Transfer-Encoding: chunked\r\n"))
        try:
            while sent < 4 * CAP:  # far past the cap: the server must answer before we stop
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
        except OSError:
            pass  # the server answered and closed while we were still sending
        status, _, body = _response(sock)
    assert status == 413, body
    assert json.loads(body)["ok"] is False
    assert sent < 4 * CAP


def test_a_webhook_body_under_the_cap_is_read(served: Server) -> None:
    big = {"version": "4", "status": "firing", "receiver": "perfbudget", "groupKey": "{}:{}",
           "alerts": [], "padding": "x" * (2 << 20)}  # 2 MiB: far over a beacon, under the webhook's cap
    status, answer = http("POST", f"{served.url}/api/alertmanager", big,
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert status != 413, answer


def test_beacons_keep_their_own_smaller_cap(served: Server) -> None:
    status, answer = http("POST", f"{served.url}/api/web-vitals", b"[" + b" " * (70 << 10) + b"]")
    assert status == 413 and answer["ok"] is False
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(b"POST /api/web-vitals HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"".join(b"4000\r\n" + b" " * 0x4000 + b"\r\n" for _ in range(5)) + b"0\r\n\r\n")
        status, _, body = _response(sock)
    assert status == 413 and json.loads(body)["ok"] is False
