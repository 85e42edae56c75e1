"""Which page URL of a beacon may be shown as the `pageUrl` of its route: on the site's origins, no secrets.

The summary names, per route, a concrete URL its beacons reported (attribution.AttributionStore keeps the
most-seen ones per route). Anyone may send a beacon, and the summary may be read anonymously, so a URL is
kept only when:
  * its origin is the site's: one of `beacons.allowed_origins`, or, when those allow any origin ("*"), the
    origin of the page that sent the beacon (its `Origin` header, which a browser sets and a page cannot
    change). A beacon without an `Origin` header under "*" (not from a browser page) names no URL; a
    relative URL is taken as the path of the page that sent it;
  * without its query string and fragment, always: which of their values are secrets (reset tokens,
    signatures, e-mail addresses, `#access_token=`) cannot be told apart from harmless ones, and the route
    is chosen by the path alone, so the query says nothing the summary describes;
  * without user information (`user:password@`), control characters or whitespace, and at most
    MAX_LENGTH characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

MAX_LENGTH = 512
#: Control characters, whitespace and the characters HTML or a URL never carries unescaped in a path.
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\"'<>\\^`{|}]")


def _origin_of(url: str) -> tuple[str, str] | None:
    """('https://shop.example', '/products/42') of an absolute http(s) URL without its query or fragment;
    None for anything else or a URL with user information."""
    lowered = url[:8].lower()
    if not lowered.startswith(("https://", "http://")):
        return None
    start = url.index("//") + 2
    end = len(url)
    for mark in ("/", "?", "#"):
        cut = url.find(mark, start)
        if 0 <= cut < end:
            end = cut
    authority = url[start:end]
    if not authority or "@" in authority:
        return None
    return url[:start].lower() + authority.lower(), url[end:]


@lru_cache(maxsize=64)
def _sender(origin: str) -> tuple[str, str] | None:
    """The Origin header of the page that sent a beacon, parsed (a site has few)."""
    return _origin_of(origin)


def _path(rest: str) -> str:
    """'/products/42?x=1#y' -> '/products/42'; '' -> '/'."""
    for mark in ("?", "#"):
        cut = rest.find(mark)
        if cut >= 0:
            rest = rest[:cut]
    return rest or "/"


class SiteUrls:
    """Clean page URLs on the site's origins (see the module's docstring)."""

    def __init__(self, allowed_origins: Iterable[str]) -> None:
        origins = list(allowed_origins)
        self._any = "*" in origins
        self._origins = frozenset(o.lower().rstrip("/") for o in origins if o != "*")
        # Page views repeat the same pages with other query strings: the query and fragment are cut first,
        # and each (page, origin) is checked once, in a bounded cache.
        self._checked = lru_cache(maxsize=4096)(self._check)

    def clean(self, url: str, origin: str | None) -> str | None:
        """The URL as the summary may show it, or None when it must not be shown. `origin`: the beacon's
        `Origin` header (None without one; "null" and anything but an http(s) origin count as none)."""
        query, fragment = url.find("?"), url.find("#")
        if query >= 0 or fragment >= 0:
            url = url[:min(cut for cut in (query, fragment) if cut >= 0)]
        return self._checked(url, origin)

    def _check(self, url: str, origin: str | None) -> str | None:
        sender = _sender(origin) if origin is not None else None
        page = sender[0] if sender is not None and sender[1] in ("", "/") else None
        if url.startswith("/") and not url.startswith("//"):
            found = (page, url) if page is not None else None
        else:
            found = _origin_of(url)
        if found is None:
            return None
        site, rest = found
        on_site = site == page if self._any else site in self._origins
        if not on_site:
            return None
        text = site + _path(rest)
        if len(text) > MAX_LENGTH or _UNSAFE.search(text) is not None:
            return None
        return text
