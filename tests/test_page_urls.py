"""Which beacon page URLs the summary may show as a route's `pageUrl` (perfbudget.page_urls)."""

from __future__ import annotations

import pytest

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
