"""What a beacon's attribution blames: (kind, value) pairs out of web-vitals' attribution objects (v3 to v6),
cleaned (bounded length, no control characters, resource URLs without their query string).

attribution.AttributionStore counts them per route in its top-K tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from .routes import url_path

KINDS = ("lcp.url", "lcp.target", "inp.target", "inp.script", "cls.target")
MAX_VALUE_LENGTH = 300
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _text(value: Any) -> str | None:
    return _clean_text(value) if isinstance(value, str) and value else None


def _resource(value: Any) -> str | None:
    """A resource URL without its query string (cache busters would split one image into many)."""
    return _clean_resource(value) if isinstance(value, str) and value else None


# Beacons name the same few images, selectors and scripts over and over: each distinct string is cleaned
# once. The caches are bounded (least recently used go first), so forged values cost memory only up to
# the bound, and each lookup is one hash of a string the decoder has just built.
@lru_cache(maxsize=4096)
def _clean_text(value: str) -> str | None:
    # No real selector or URL holds a control character; a value with one is forged (a NUL byte would
    # also break every action that turns a URL into a path).
    text = value[:MAX_VALUE_LENGTH]
    return text if _CONTROL.search(text) is None else None


@lru_cache(maxsize=4096)
def _clean_resource(value: str) -> str | None:
    text = _clean_text(value)
    if text is None or text.startswith("data:"):
        return None
    base = text.split("#", 1)[0].split("?", 1)[0]
    if base.startswith(("http://", "https://")):
        scheme_end = base.index("//") + 2
        slash = base.find("/", scheme_end)
        return base[:scheme_end] + (base[scheme_end:] if slash < 0 else base[scheme_end:slash] + url_path(base[slash:]))
    return base


Pairs = list[tuple[str, str]]


def _lcp(attribution: dict[str, Any]) -> Pairs:
    get = attribution.get
    url = _resource(get("url"))
    if url is None:
        entry = get("lcpEntry")  # web-vitals v3
        if isinstance(entry, dict):
            url = _resource(entry.get("url"))
    target = _text(get("target")) or _text(get("element"))
    if url:
        return [("lcp.url", url), ("lcp.target", target)] if target else [("lcp.url", url)]
    return [("lcp.target", target)] if target else []


def _inp(attribution: dict[str, Any]) -> Pairs:
    get = attribution.get
    target = _text(get("interactionTarget")) or _text(get("eventTarget"))  # eventTarget: web-vitals v3
    out = [("inp.target", target)] if target else []
    script = get("longestScript")
    if isinstance(script, dict):
        nested = script.get("entry")
        entry: dict[str, Any] = nested if isinstance(nested, dict) else script
        source = _resource(entry.get("sourceURL")) or _resource(entry.get("url")) or _text(entry.get("invoker"))
        if source:
            out.append(("inp.script", source))
    return out


def _cls(attribution: dict[str, Any]) -> Pairs:
    target = _text(attribution.get("largestShiftTarget"))
    return [("cls.target", target)] if target else []


#: The vitals whose attribution the top-K keeps; FCP and TTFB name nothing to blame.
EXTRACTORS: dict[str, Callable[[dict[str, Any]], Pairs]] = {"LCP": _lcp, "INP": _inp, "CLS": _cls}


def extract(vital: str, attribution: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) pairs from one report's attribution; field names of web-vitals v3 to v6 accepted."""
    extractor = EXTRACTORS.get(vital)
    return [] if extractor is None else extractor(attribution)
