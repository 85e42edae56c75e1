"""Who sent a request: the client address every per-client limit is keyed on (beacons, runs started by hand).

Behind `server.trusted_proxy_hops` reverse proxies, the peer is the nearest proxy, so the client is the
address that many hops back in `X-Forwarded-For` (the entries the trusted proxies appended; anything before
them is the client's own claim). With no trusted hop, or a header shorter than the hops, the peer address.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def client_address(environ: Mapping[str, Any], trusted_proxy_hops: int) -> str:
    """The client's address from a WSGI environ, as `server.trusted_proxy_hops` says to read it."""
    if trusted_proxy_hops:
        found = forwarded_client(environ.get("HTTP_X_FORWARDED_FOR"), trusted_proxy_hops)
        if found is not None:
            return found
    return str(environ.get("REMOTE_ADDR", ""))


def forwarded_client(forwarded: str | None, trusted_proxy_hops: int) -> str | None:
    """The client's address in an `X-Forwarded-For` value behind `trusted_proxy_hops` proxies (>= 1), or
    None when the header is absent or shorter than the hops (the peer address is the client then)."""
    if not forwarded:
        return None
    hops = [part.strip() for part in str(forwarded).split(",")]
    return hops[-trusted_proxy_hops] if len(hops) >= trusted_proxy_hops else None
