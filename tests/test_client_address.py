"""The client address every per-client limit is keyed on (web/clients.py): the beacon limit and runs by hand."""

from __future__ import annotations

import pytest

from perfbudget.web.clients import client_address


@pytest.mark.parametrize(("forwarded", "hops", "client"), [
    (None, 0, "10.0.0.1"),
    ("203.0.113.7", 0, "10.0.0.1"),                       # X-Forwarded-For ignored by default
    ("203.0.113.7", 1, "203.0.113.7"),
    ("198.51.100.1, 203.0.113.7", 1, "203.0.113.7"),     # the client's own claim comes first: not trusted
    ("198.51.100.1, 203.0.113.7", 2, "198.51.100.1"),
    ("203.0.113.7", 2, "10.0.0.1"),                       # fewer entries than trusted hops: the peer
    ("", 1, "10.0.0.1"),
])
def test_the_client_is_the_entry_the_trusted_proxies_appended(forwarded: str | None, hops: int, client: str) -> None:
    environ = {"REMOTE_ADDR": "10.0.0.1"}
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_address(environ, hops) == client
