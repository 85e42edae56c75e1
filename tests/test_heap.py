"""heap.trim: the free pages of a scrape go back to the system once its body has gone (glibc's malloc_trim)."""

from __future__ import annotations

import platform

import pytest
from flask.testing import FlaskClient

from perfbudget import heap


def test_trim_reaches_glibc_here() -> None:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc: heap.trim has nothing to call and does nothing (this check is for Debian)")
    assert heap.trim() is True


def test_the_heap_is_trimmed_after_each_scrape_once_its_body_is_sent(client: FlaskClient,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(heap, "_MALLOC_TRIM", lambda pad: calls.append(pad) or 1)
    response = client.get("/metrics")
    assert response.status_code == 200 and b"perfbudget_lcp_seconds" in response.data
    assert calls == []  # not while the body may still be streaming
    response.close()
    assert calls == [0]
    client.get("/-/healthy").close()
    assert calls == [0]  # only scrapes
