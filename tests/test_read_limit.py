"""The read rate limit, in-process: keyed per client address as the beacon limit is (trusted proxy hops
included), covering the summary and the console, and nothing else."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask


def test_the_read_limit_is_per_client_behind_a_trusted_proxy(make_app: Callable[..., Flask]) -> None:
    client = make_app(server={"read_rate_limit": "1/minute", "trusted_proxy_hops": 1}).test_client()

    def get(path: str, forwarded: str) -> int:
        return client.get(path, headers={"X-Forwarded-For": forwarded}).status_code

    assert get("/api/web-vitals", "203.0.113.7") == 200
    assert get("/api/web-vitals", "198.51.100.2") == 200  # another client: its own budget
    refused = client.get("/", headers={"X-Forwarded-For": "203.0.113.7"})  # the console shares the budget
    assert refused.status_code == 429 and refused.headers["Retry-After"].isdigit()
    retry = refused.headers["Retry-After"]
    assert refused.json == {"ok": False, "error": f"read rate limit exceeded; retry in {retry} s"}
    assert get("/-/healthy", "203.0.113.7") == 200  # not a read the limit covers
    assert get("/metrics", "203.0.113.7") == 200


def test_off_turns_the_read_limit_off(make_app: Callable[..., Flask]) -> None:
    client = make_app(server={"read_rate_limit": "off"}).test_client()
    assert {client.get("/api/web-vitals").status_code for _ in range(30)} == {200}
