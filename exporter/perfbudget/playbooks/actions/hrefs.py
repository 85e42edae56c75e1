"""What a URL from a beacon may become in HTML an action writes: a path of the site, or an asset origin's URL.

Attribution URLs come from anonymous beacons, and `Origin` is trivial to forge outside a browser: thirty
reports naming `https://evil.example/img/hero.jpg` must never put that host in a hint every visitor's
browser follows. So every URL an action writes into HTML goes through `site_href`, and the one rule is:

- a URL on one of `actions.asset_origins` (the origins that serve the site's assets, a CDN) stays as it is;
- any other URL is written as its bare path (`/img/hero.jpg`), which the page resolves on its own origin,
  and only when that path is a file of the site (or, with `hosted=False`, when the URL is on one of the
  site's page origins, `beacons.allowed_origins`, or is a path already);
- anything else (another scheme, a foreign host whose path the site lacks, a path a browser would read as
  a host) is refused with the reason.

`preload` is the action that writes beacon URLs into HTML. `image-dimensions` writes only numbers into
`<img>` tags it found in the site's own files, and `images` writes no HTML, so neither has a URL to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from ...config.model import Config
from .base import ActionContext
from .paths import url_to_file

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters a browser's URL parser treats as a path separator or strips: `/\evil.example` is `//evil.example`.
_UNSAFE_PATH = re.compile(r"[\\\x00-\x20\x7f]")


@dataclass(frozen=True)
class Href:
    """A URL as an action may write it (`href`), or why it may not (`refused`); `file` is the site's copy."""

    url: str
    href: str | None
    file: Path | None = None
    refused: str | None = None

    @property
    def rewritten(self) -> bool:
        return self.href is not None and self.href != self.url


def origin_of(parts: SplitResult) -> str | None:
    """`https://shop.example` however it is spelt (case, a default port); None for a path. ValueError for a bad
    port. A protocol-relative URL (`//host/x`) has the scheme `?`, so it matches no configured origin."""
    if not parts.netloc:
        return None
    scheme = parts.scheme.lower() or "?"
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = parts.port
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != _DEFAULT_PORTS.get(scheme) else "")


def _origins(values: list[str]) -> frozenset[str]:
    return frozenset(o for value in values if value != "*" and (o := origin_of(urlsplit(value))) is not None)


def asset_origins(config: Config) -> frozenset[str]:
    """Origins whose URLs are written as they are: the ones the config says serve the site's assets."""
    return _origins(config.actions.asset_origins)


def page_origins(config: Config) -> frozenset[str]:
    """The site's own page origins, as far as the config names them (beacons.allowed_origins without '*')."""
    return _origins(config.beacons.allowed_origins)


def site_href(url: str, ctx: ActionContext, *, hosted: bool = True) -> Href:
    """What `url` may be written as in HTML an action writes; see the module's docstring for the rule.

    `hosted` (the default) also requires its path to be a file in the allowed directories.
    """
    try:
        parts = urlsplit(url)
        at = origin_of(parts)
    except ValueError:  # urlsplit refuses some malformed hosts, .port a port that is not a number
        return Href(url, None, refused="not a URL")
    if parts.scheme.lower() not in ("", "http", "https"):
        return Href(url, None, refused=f"a {parts.scheme}: URL, not http(s) or a path")
    if not parts.path.strip("/") or _UNSAFE_PATH.search(parts.path):
        return Href(url, None, refused="no path a page could load")
    file = url_to_file(url, ctx.allowed_dirs)
    if hosted and file is None:
        return Href(url, None, refused="not a file of the site")
    if at is not None and at in asset_origins(ctx.config):
        return Href(url, url, file)
    if at is not None and file is None and at not in page_origins(ctx.config):
        return Href(url, None, refused=f"{at} is not one of the site's origins, and the site has no such file")
    # One leading slash: a path that starts with two would be read as a host (`//evil.example/x`).
    return Href(url, "/" + parts.path.lstrip("/"), file)
