"""Beacon hints, client hints and User-Agent -> a device class (phone, tablet, desktop, unknown)."""

from __future__ import annotations

from functools import lru_cache

from ua_parser import BestAvailableResolver, Domain, Parser
from ua_parser.loaders import load_builtins

DEVICES = ("phone", "tablet", "desktop", "unknown")
_DESKTOP_OS = {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "ChromeOS", "Fedora", "FreeBSD", "macOS"}


@lru_cache(maxsize=1)
def _parser() -> Parser:
    """ua-parser with its OS and device matchers only: perfbudget never reads the browser, and leaving its
    matchers out keeps 7 of the resolver's 26 MiB out of every worker (built on the first User-Agent)."""
    _browsers, systems, devices = load_builtins()
    return Parser(BestAvailableResolver(([], systems, devices)))


_OS_AND_DEVICE = Domain.OS | Domain.DEVICE


@lru_cache(maxsize=4096)
def device_from_user_agent(user_agent: str) -> str:
    """phone | tablet | desktop | unknown, from ua-parser's device and OS families (cached per UA)."""
    if not user_agent:
        return "unknown"
    result = _parser()(user_agent, _OS_AND_DEVICE)
    device = result.device.family if result.device else "Other"
    os_family = result.os.family if result.os else "Other"
    if device == "Spider":
        return "unknown"
    if device == "iPad" or "Tablet" in device or "Kindle" in device or (
        os_family == "Android" and "Mobile" not in user_agent
    ):
        return "tablet"
    if device in ("iPhone", "iPod", "Generic Smartphone") or os_family in ("iOS", "Android", "Windows Phone"):
        return "phone"
    if os_family in _DESKTOP_OS:
        return "desktop"
    return "unknown"


def device_class(hint: str | None, ch_ua_mobile: str | None, user_agent: str | None) -> str:
    """The beacon's own hint first, then the Sec-CH-UA-Mobile client hint, then the User-Agent."""
    if hint is not None:
        return hint
    if ch_ua_mobile == "?1":
        return "phone"
    if user_agent:
        return device_from_user_agent(user_agent[:512])
    return "unknown"
