"""The one rule for URLs in HTML an action writes: a path of the site, or a URL on a configured asset origin."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from perfbudget.config.model import Config
from perfbudget.playbooks.actions import KINDS
from perfbudget.playbooks.actions.hrefs import site_href

from .conftest import MakeCtx, photo

FORGED = "https://evil.example/img/hero.jpg"


@pytest.fixture(autouse=True)
def hero(site: Path) -> None:
    (site / "img").mkdir()
    photo(320, 200, 1).save(site / "img" / "hero.jpg", "JPEG", quality=92)


@pytest.mark.parametrize(
    ("url", "hosted", "href", "refused"),
    [
        (FORGED, True, "/img/hero.jpg", None),
        ("https://shop.example/img/hero.jpg", True, "/img/hero.jpg", None),
        ("HTTPS://CDN.example:443/img/hero.jpg", True, "HTTPS://CDN.example:443/img/hero.jpg", None),
        ("https://cdn.example:8443/img/hero.jpg", True, "/img/hero.jpg", None),  # another port, another origin
        ("/img/hero.jpg", True, "/img/hero.jpg", None),
        ("img/hero.jpg", True, "/img/hero.jpg", None),
        ("https://evil.example//img/hero.jpg", True, "/img/hero.jpg", None),
        ("https://evil.example/img/missing.jpg", True, None, "not a file of the site"),
        (
            "https://evil.example/img/missing.jpg",
            False,
            None,
            "https://evil.example is not one of the site's origins, and the site has no such file",
        ),
        ("https://shop.example/img/missing.jpg", False, "/img/missing.jpg", None),
        ("https://shop.example:443/img/missing.jpg", False, "/img/missing.jpg", None),
        ("/img/missing.jpg", False, "/img/missing.jpg", None),
        ("https://shop.example//evil.example/x.jpg", False, "/evil.example/x.jpg", None),
        ("/\\evil.example/img/hero.jpg", False, None, "no path a page could load"),
        ("https://evil.example/", False, None, "no path a page could load"),
        ("javascript:alert(1)", False, None, "a javascript: URL, not http(s) or a path"),
        ("https://[::1/img/hero.jpg", True, None, "not a URL"),
        ("https://evil.example:99999/img/hero.jpg", True, None, "not a URL"),
    ],
)
def test_what_a_url_may_be_written_as(
    make_ctx: MakeCtx, url: str, hosted: bool, href: str | None, refused: str | None
) -> None:
    ctx = make_ctx(beacons={"allowed_origins": ["https://shop.example"]}, asset_origins=["https://cdn.example"])
    result = site_href(url, ctx, hosted=hosted)
    assert (result.href, result.refused) == (href, refused)


def test_with_any_origin_allowed_only_files_of_the_site_are_written(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()  # beacons.allowed_origins is ["*"]: no page origin is known
    assert site_href("https://shop.example/img/hero.jpg", ctx, hosted=False).href == "/img/hero.jpg"
    assert site_href("https://shop.example/img/missing.jpg", ctx, hosted=False).href is None


def test_asset_origins_are_origins() -> None:
    with pytest.raises(ValidationError, match=r"'https://cdn.example/img' is not an origin"):
        Config.model_validate({"actions": {"asset_origins": ["https://cdn.example/img"]}})
    with pytest.raises(ValidationError, match=r"'\*' is not an origin"):
        Config.model_validate({"actions": {"asset_origins": ["*"]}})


def _everything(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", ["images", "preload", "image-dimensions", "cache-headers", "js-audit", "manual"])
def test_no_action_writes_a_forged_host_into_a_file(make_ctx: MakeCtx, site: Path, tmp_path: Path, kind: str) -> None:
    # Every kind that runs without a server, applied with every attribution kind naming the forged host.
    (site / "index.html").write_text('<html><head></head><body><img src="/img/hero.jpg"></body></html>\n')
    (site / "app.3f9a1c2e.js").write_text("console.log(1)\n")
    forged = {k: [(FORGED, 30)] for k in ("lcp.url", "lcp.target", "inp.target", "inp.script", "cls.target")}
    ctx = make_ctx(attribution=forged)
    action = KINDS[kind]
    params = action.Params.model_validate(
        {"steps": ["look"]} if kind == "manual" else {"min_bytes": 1000} if kind == "images" else {}
    )
    action.apply(ctx, params)
    assert "evil.example" not in _everything(tmp_path)
