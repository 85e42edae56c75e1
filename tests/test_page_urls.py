"""Which beacon page URLs the summary may show as a route's `pageUrl` (perfbudget.page_urls)."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfbudget.attribution import AttributionStore, compact
from perfbudget.page_urls import MAX_LENGTH, SiteUrls

SHOP = "https://shop.example"


@pytest.mark.parametrize(("url", "origin", "shown"), [
    (f"{SHOP}/products/42?token=secret", SHOP, f"{SHOP}/products/42"),  # the query never
    (f"{SHOP}/login#access_token=abc", SHOP, f"{SHOP}/login"),  # nor the fragment
    (SHOP, SHOP, f"{SHOP}/"),
    ("HTTPS://Shop.Example/Cart", SHOP, f"{SHOP}/Cart"),  # scheme and host compared without case, path kept
    ("/cart?x=1", SHOP, f"{SHOP}/cart"),  # a relative URL is on the page that sent it
    ("https://evil.example/cart", SHOP, None),  # another host than the sender's
    (f"{SHOP}/cart", None, None),  # no Origin header under "*": not from a browser page
    (f"{SHOP}/cart", "null", None),  # an opaque origin says nothing
    ("/cart", None, None),
    ("https://user:pass@shop.example/cart", SHOP, None),  # user information
    (f"{SHOP}/<script>", SHOP, None),  # characters no URL carries unescaped
    (f"{SHOP}/a b", SHOP, None),
    ("javascript:alert(1)", SHOP, None),
    ("//shop.example/cart", SHOP, None),  # protocol-relative: not taken as a path
    (f"{SHOP}/{'a' * MAX_LENGTH}", SHOP, None),
])
def test_any_origin_takes_urls_of_the_page_that_sent_the_beacon(url: str, origin: str | None,
                                                                 shown: str | None) -> None:
    assert SiteUrls(["*"]).clean(url, origin) == shown


@pytest.mark.parametrize(("url", "origin", "shown"), [
    (f"{SHOP}/cart?coupon=1", None, f"{SHOP}/cart"),  # an allowed origin needs no Origin header
    ("https://cdn.example/cart", None, None),
    ("https://cdn.example/cart", "https://cdn.example", None),  # the sender's origin is not the site's
    ("/cart", SHOP, f"{SHOP}/cart"),
    ("/cart", "https://cdn.example", None),
    ("http://shop.example/cart", None, None),  # another scheme is another origin
])
def test_an_allowlist_takes_urls_on_its_origins(url: str, origin: str | None, shown: str | None) -> None:
    assert SiteUrls([SHOP, "https://m.shop.example"]).clean(url, origin) == shown


def test_a_routes_page_url_is_the_most_seen_of_the_workers_of_now_else_of_past_ones(tmp_path: Path) -> None:
    past = AttributionStore(tmp_path, 20)
    for _ in range(5):
        past.record_page("/products/:id", f"{SHOP}/products/7")  # an earlier run's page, seen often
    past.flush()
    compact(tmp_path, 20)  # at start: every earlier worker's file merged into merged.json
    now, sibling = AttributionStore(tmp_path, 20), AttributionStore(tmp_path, 20)
    assert now.page_url("/products/:id") == f"{SHOP}/products/7"  # nothing recent yet: the past one
    sibling.record_page("/products/:id", f"{SHOP}/products/42")
    sibling.flush()
    now.record_page("/products/:id", f"{SHOP}/products/42")
    now.record_page("/products/:id", f"{SHOP}/products/9")
    assert now.page_url("/products/:id") == f"{SHOP}/products/42"  # seen twice by the workers of now
    assert now.page_url("/cart") is None
