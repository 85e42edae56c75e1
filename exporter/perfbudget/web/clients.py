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
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        if forwarded:
            hops = [part.strip() for part in str(forwarded).split(",")]
            if len(hops) >= trusted_proxy_hops:
                return hops[-trusted_proxy_hops]
    return str(environ.get("REMOTE_ADDR", ""))
