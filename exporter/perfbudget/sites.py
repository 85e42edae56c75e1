"""A beacon -> its site: the `site` label when `sites:` is configured (config/sites.py).

A page view's site is the configured site whose hosts list its page URL's host (the port first as given,
then without it), else the host of the page that sent the beacon (its Origin header) when the URL is
relative; a `site` field the beacon carries overrides both but must name a configured site. Everything else
is `other`, counted by reason in perfbudget_site_other_total, so the label never takes a value the config
does not name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from .config.sites import OTHER_SITE, SiteConfig

SiteOtherReason = Literal["unknown_host", "no_host", "unknown_site_field"]
#: Why a beacon's site is `other`: the reason label of perfbudget_site_other_total, each exposed from the start.
SITE_OTHER_REASONS: tuple[SiteOtherReason, ...] = get_args(SiteOtherReason)
_CACHE_LIMIT = 4096  # hosts seen per worker before the cache starts over (any beacon can name a host)


def url_host(url: str) -> str | None:
    """'https://User@Shop.Test:8080/a?b' -> 'shop.test:8080'; None for a relative URL or one without a host."""
    scheme = url.find("://")
    if scheme <= 0:
        return None
    start = scheme + 3
    end = len(url)
    for mark in ("/", "?", "#"):
        cut = url.find(mark, start)
        if 0 <= cut < end:
            end = cut
    authority = url[start:end].rpartition("@")[2].lower()
    return authority or None


class SiteResolver:
    """Which configured site a beacon belongs to; every label value it returns is a site name or `other`."""

    def __init__(self, sites: Sequence[SiteConfig]) -> None:
        self.names: tuple[str, ...] = (*(site.name for site in sites), OTHER_SITE)
        self._by_host = {host: site.name for site in sites for host in site.hosts}
        self._known = frozenset(self.names[:-1])
        self._cache: dict[str, str | None] = {}

    def site(self, claimed: str | None, url: str | None, origin: str | None) -> tuple[str, SiteOtherReason | None]:
        """(the site, why it is `other` or None) of a page view: its `site` field, else its URL's host, else
        the Origin header's host."""
        if claimed is not None:
            return (claimed, None) if claimed in self._known else (OTHER_SITE, "unknown_site_field")
        host = url_host(url) if url else None
        if host is None and origin:
            host = url_host(origin)
        if host is None:
            return OTHER_SITE, "no_host"
        name = self._lookup(host)
        return (name, None) if name is not None else (OTHER_SITE, "unknown_host")

    def _lookup(self, host: str) -> str | None:
        try:
            return self._cache[host]
        except KeyError:
            pass
        name = self._by_host.get(host)
        if name is None and ":" in host:
            name = self._by_host.get(host.rsplit(":", 1)[0])
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[host] = name
        return name
