"""Issue 11, point 1: slow clients cannot freeze the service. Bodies are read with a deadline
(`server.body_timeout`) by granian's event loop, so connections that trickle a body hold no thread.

Latency figures are in benchmarks/slow_clients.py; these bounds are generous on purpose.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from .stack import Server, beacon, exporter, http

pytestmark = pytest.mark.integration

WORKERS, THREADS = 2, 3
SLOW_CLIENTS = 4 * WORKERS * THREADS
BODY_TIMEOUT = 3


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = {"server": {"threads": THREADS, "body_timeout": BODY_TIMEOUT}}
    with exporter(tmp_path_factory.mktemp("deadlines"), workers=WORKERS, config=config) as srv:
        yield srv


def _headers(port: int, length: int = 60000) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"POST /api/web-vitals HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                 + f"Content-Length: {length}\r\n\r\n".encode())
    return sock


def _trickle(port: int, stop: threading.Event, answers: list[bytes]) -> None:
    with _headers(port) as sock:
        sock.settimeout(0.5)
        while not stop.is_set():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                try:
                    sock.sendall(b"x")
                except OSError:
                    answers.append(b"(closed)")
                    return
                continue
            except OSError:
                data = b""
            answers.append(data.split(b"\r\n", 1)[0] or b"(closed)")
            return


def _answer_and_close_time(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """What the server sent before closing the connection, and when it closed (after `limit` s: still open)."""
    started = time.monotonic()
    sock.settimeout(limit)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        return data, limit
    return data, time.monotonic() - started


def test_healthy_requests_are_answered_while_four_slow_clients_per_thread_trickle_bodies(served: Server) -> None:
    stop = threading.Event()
    answers: list[bytes] = []
    slow = [threading.Thread(target=_trickle, args=(served.port, stop, answers), daemon=True)
            for _ in range(SLOW_CLIENTS)]
    for thread in slow:
        thread.start()
    try:
        time.sleep(1.0)  # every slow client is mid-body, well before its deadline
        assert answers == []
        for i in range(5):
            for method, path, body in (("GET", "/-/healthy", None), ("GET", "/metrics", None),
                                       ("POST", "/api/web-vitals", [beacon("INP", 90, f"fast-{i}")])):
                status, _ = http(method, f"{served.url}{path}", body, timeout=5)
                assert status == 200, (method, path)
        assert answers == []  # still trickling: the healthy requests did not wait for them
    finally:
        for thread in slow:
            thread.join(BODY_TIMEOUT + 10)
        stop.set()
    assert answers == [b"HTTP/1.1 408 Request Timeout"] * SLOW_CLIENTS


def test_a_body_that_never_comes_gets_408_and_its_connection_closed(served: Server) -> None:
    with _headers(served.port) as sock:
        data, closed_after = _answer_and_close_time(sock, BODY_TIMEOUT + 10)
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert b'"ok":false' in data
    assert BODY_TIMEOUT - 1 < closed_after < BODY_TIMEOUT + 5


def test_headers_that_never_end_and_idle_connections_are_closed(served: Server) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as partial:
        partial.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        data, closed_after = _answer_and_close_time(partial, BODY_TIMEOUT + 10)
    assert closed_after < BODY_TIMEOUT + 5, data
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as idle:
        idle.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data, closed_after = _answer_and_close_time(idle, BODY_TIMEOUT + 10)
    assert data.startswith(b"HTTP/1.1 200 ")
    assert closed_after < BODY_TIMEOUT + 5


def test_a_slow_but_timely_body_is_accepted(served: Server) -> None:
    body = b'[{"name":"LCP","value":1000,"delta":1000,"id":"v1-timely","rating":"good","navigationType":"navigate"}]'
    with _headers(served.port, len(body)) as sock:
        for part in (body[:40], body[40:80], body[80:]):
            time.sleep(0.4)
            sock.sendall(part)
        data, _ = _answer_and_close_time(sock, 0.5)  # keep-alive: the server does not close, the read stops
    assert data.startswith(b"HTTP/1.1 200 "), data
    assert b'"received":1' in data
