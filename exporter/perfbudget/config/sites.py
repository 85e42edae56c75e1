"""Several sites on one exporter: `sites: [{name, hosts: [...]}]`, each page URL's host naming its site.

With no site configured there is no `site` label (the default exposition is unchanged); with N sites every
vitals histogram gets a `site` label of N + 1 values (the names, and `other` for hosts no site lists), so the
vitals series multiply by N + 1.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator

from .base import StrictModel

#: The site of a host no site lists, and of a beacon's `site` field that names no configured site.
OTHER_SITE = "other"
MAX_SITES = 50
_HOST = re.compile(r"(?=.{1,253}(:|$))[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
                   r"(:[0-9]{1,5})?")


class SiteConfig(StrictModel):
    # The label value: short, stable, safe in PromQL and URLs.
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
    # Host names (a port only when the pages are served on one: "shop.test:8080"), matched case-insensitively.
    hosts: Annotated[list[str], Field(min_length=1, max_length=100)]

    @field_validator("name")
    @classmethod
    def _not_other(cls, value: str) -> str:
        if value == OTHER_SITE:
            raise ValueError(f"{OTHER_SITE!r} is the label of hosts no site lists; give the site another name")
        return value

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        out = []
        for host in value:
            lowered = host.strip().lower()
            if not _HOST.fullmatch(lowered):
                raise ValueError(f"{host!r} is not a host name like shop.example.com or shop.test:8080 "
                                 "(no scheme, no path)")
            out.append(lowered)
        return out


def check_sites(sites: list[SiteConfig]) -> list[SiteConfig]:
    """Names and hosts unique across the list, at most MAX_SITES sites (each one multiplies the series)."""
    if len(sites) > MAX_SITES:
        raise ValueError(f"{len(sites)} sites is over the limit of {MAX_SITES}: each site adds a site label value "
                         "to every vitals series")
    names: dict[str, int] = {}
    owner: dict[str, int] = {}
    for index, site in enumerate(sites):
        if site.name in names:
            raise ValueError(f"sites[{index}].name {site.name!r} is the name of sites[{names[site.name]}] too")
        names[site.name] = index
        for host in site.hosts:
            if owner.get(host, index) != index:
                raise ValueError(f"sites[{index}].hosts: {host!r} is a host of sites[{owner[host]}] too")
            owner[host] = index
    return sites


def site_origins(sites: list[SiteConfig]) -> list[str]:
    """The beacon origins the sites' hosts make: https:// and http:// of each host, in order."""
    return [f"{scheme}://{host}" for site in sites for host in site.hosts for scheme in ("https", "http")]
