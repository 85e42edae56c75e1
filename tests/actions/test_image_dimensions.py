"""The image-dimensions kind: exact patches from real image files, with backups and a byte-exact rollback."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from perfbudget.playbooks.actions import KINDS
from perfbudget.playbooks.actions.image_dimensions import ImageDimensionsParams

from .conftest import MakeCtx, photo, tree

KIND = KINDS["image-dimensions"]

PAGE = """<!doctype html>
<html><head><title>Shop</title></head>
<body>
  <img src="img/hero.jpg" alt="Hero" class="wide">
  <img src="/img/card.png"/>
  <img src="img/hero.jpg" width="320">
  <img src="img/hero.jpg" width="100%">
  <img src="img/card.png" width="40" height="20">
  <img src="https://cdn.example/x.jpg">
  <img src="{{ product.image }}">
  <!-- <img src="img/hero.jpg"> -->
  <script>document.write('<img src="img/hero.jpg">')</script>
  <img src="img/rotated.jpg">
  <img src="../../outside.jpg">
</body></html>
"""


def make_site(site: Path) -> Path:
    (site / "img").mkdir()
    photo(640, 400).save(site / "img" / "hero.jpg", "JPEG")
    photo(200, 100).save(site / "img" / "card.png", "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6
    photo(300, 200).save(site / "img" / "rotated.jpg", "JPEG", exif=exif.tobytes())
    page = site / "index.html"
    page.write_bytes(PAGE.encode())
    return page


def test_preview_shows_the_exact_patch_and_apply_writes_it(site: Path, make_ctx: MakeCtx) -> None:
    page = make_site(site)
    ctx = make_ctx()
    preview = KIND.preview(ctx, ImageDimensionsParams())
    assert page.read_text() == PAGE, "preview changed the page"
    applied = KIND.apply(ctx, ImageDimensionsParams())
    patched = page.read_text()
    assert patched == PAGE.replace(
        '<img src="img/hero.jpg" alt="Hero" class="wide">',
        '<img src="img/hero.jpg" alt="Hero" class="wide" width="640" height="400">',
    ).replace('<img src="/img/card.png"/>', '<img src="/img/card.png" width="200" height="100" />').replace(
        '<img src="img/hero.jpg" width="320">', '<img src="img/hero.jpg" width="320" height="200">'
    ).replace('<img src="img/rotated.jpg">', '<img src="img/rotated.jpg" width="200" height="300">')
    assert preview.details["patch"] == applied.details["patch"]
    assert '+  <img src="img/rotated.jpg" width="200" height="300">' in preview.details["patch"]
    assert preview.details["patch"].startswith("--- a/index.html\n+++ b/index.html\n")
    assert [i["line"] for i in applied.changes[0]["images"]] == [4, 5, 6, 13]
    assert any("outside.jpg" in e and "outside the allowed directories" in e for e in applied.errors)


def test_rollback_restores_the_page_byte_for_byte(site: Path, make_ctx: MakeCtx) -> None:
    make_site(site)
    (site / "crlf.html").write_bytes(b'\xef\xbb\xbf<p>caf\xc3\xa9</p>\r\n<img src="img/card.png">\r\n')
    before = tree(site)
    ctx = make_ctx()
    applied = KIND.apply(ctx, ImageDimensionsParams())
    assert (site / "crlf.html").read_bytes() == (
        b'\xef\xbb\xbf<p>caf\xc3\xa9</p>\r\n<img src="img/card.png" width="200" height="100">\r\n'
    )
    assert applied.manifest is not None and len(applied.manifest["replaced"]) == 2
    KIND.rollback(ctx, applied.manifest)
    assert tree(site) == before


def test_a_second_apply_changes_nothing(site: Path, make_ctx: MakeCtx) -> None:
    make_site(site)
    ctx = make_ctx()
    KIND.apply(ctx, ImageDimensionsParams())
    once = tree(site)
    again = KIND.apply(ctx, ImageDimensionsParams())
    assert tree(site) == once
    assert again.manifest is None and again.changes == []


def test_cls_attribution_is_shown_as_evidence(site: Path, make_ctx: MakeCtx) -> None:
    make_site(site)
    ctx = make_ctx(attribution={"cls.target": [("main > img.wide", 12)]})
    preview = KIND.preview(ctx, ImageDimensionsParams())
    assert preview.details["clsTargets"] == [{"target": "main > img.wide", "reports": 12}]
