"""The preload kind: hints from the LCP attribution top-K, written as a snippet file and undone exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfbudget.playbooks.actions import KINDS, PathRefused
from perfbudget.playbooks.actions.preload import PreloadParams

from .conftest import MakeCtx, tree

KIND = KINDS["preload"]
CDN = ["https://cdn.example"]  # actions.asset_origins: the origin that serves the site's assets
LCP = {
    "lcp.url": [
        ("/img/hero.jpg", 70),
        ("javascript:alert(1)", 20),
        ("https://cdn.example/a&b.jpg", 6),
        ("/img/rare.jpg", 4),
    ]
}


@pytest.fixture(autouse=True)
def hosted(site: Path) -> None:
    """The site's own copies of the images the beacons name (a hint is only written for a hosted image)."""
    for name in ("img/hero.jpg", "a&b.jpg", "img/rare.jpg"):
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(b"jpeg")


def test_an_image_the_site_does_not_host_gets_no_hint(make_ctx: MakeCtx) -> None:
    forged = {"lcp.url": [("https://tracker.example/pixel.jpg", 90), ("/img/hero.jpg", 10)]}
    outcome = KIND.preview(make_ctx(attribution=forged), PreloadParams(top=2, min_share=0.05))
    assert [h["url"] for h in outcome.changes[0]["hints"]] == ["/img/hero.jpg"]
    assert outcome.changes[0]["refused"] == [
        {"url": "https://tracker.example/pixel.jpg", "reports": 90, "reason": "not a file of the site"}
    ]
    assert "tracker.example" not in outcome.details["snippet"]


def test_preview_shows_the_hints_that_apply_writes(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(attribution=LCP, alert_labels={"route": "/product/:id"}, asset_origins=CDN)
    params = PreloadParams(top=2, min_share=0.05)
    preview = KIND.preview(ctx, params)
    assert not ctx.run_dir.exists(), "preview wrote something"
    applied = KIND.apply(ctx, params)
    path = ctx.run_dir / "preload" / "preload-hints.html"
    assert path.read_text() == preview.details["snippet"] == applied.details["snippet"]
    assert path.read_text().splitlines()[1:] == [
        "<!-- route: /product/:id (100 LCP reports with a resource) -->",
        '<link rel="preload" as="image" href="/img/hero.jpg" fetchpriority="high">',
        '<link rel="preload" as="image" href="https://cdn.example/a&amp;b.jpg" fetchpriority="high">',
    ]


def test_rare_lcp_images_get_no_preload(make_ctx: MakeCtx) -> None:
    outcome = KIND.preview(make_ctx(attribution=LCP, asset_origins=CDN), PreloadParams(top=5, min_share=0.05))
    assert [h["url"] for h in outcome.changes[0]["hints"]] == ["/img/hero.jpg", "https://cdn.example/a&b.jpg"]


def test_a_second_apply_changes_nothing_and_rollback_removes_the_file(make_ctx: MakeCtx, site: Path) -> None:
    ctx = make_ctx(attribution=LCP)
    params = PreloadParams(output_dir="snippets")
    before = tree(site)
    first = KIND.apply(ctx, params)
    assert (site / "snippets" / "preload-hints.html").is_file()
    second = KIND.apply(ctx, params)
    assert second.manifest is None and second.details["file"] == "unchanged"
    assert first.manifest is not None
    KIND.rollback(ctx, first.manifest)
    assert tree(site) == before


def test_a_changed_snippet_is_replaced_with_a_backup_and_restored(make_ctx: MakeCtx, site: Path) -> None:
    (site / "snippets").mkdir()
    (site / "snippets" / "preload-hints.html").write_text("<!-- old hints -->\n")
    before = tree(site)
    ctx = make_ctx(attribution=LCP)
    applied = KIND.apply(ctx, PreloadParams(output_dir="snippets"))
    assert applied.details["file"] == "replaced"
    assert applied.manifest is not None
    KIND.rollback(ctx, applied.manifest)
    assert tree(site) == before


def test_no_attribution_means_nothing_written(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    outcome = KIND.apply(ctx, PreloadParams())
    assert outcome.manifest is None and not ctx.run_dir.exists()


def test_an_output_dir_outside_the_allowed_dirs_is_refused(make_ctx: MakeCtx) -> None:
    with pytest.raises(PathRefused):
        KIND.apply(make_ctx(attribution=LCP), PreloadParams(output_dir="../elsewhere"))


def test_a_forged_host_with_a_path_the_site_has_is_written_as_the_site_path(make_ctx: MakeCtx) -> None:
    # Issue 11, point 5: thirty forged reports named https://evil.example/img/hero.jpg, and the hint sent every
    # visitor's browser there. The site does have /img/hero.jpg: that path is what may be written.
    ctx = make_ctx(attribution={"lcp.url": [("https://evil.example/img/hero.jpg", 30)]})
    preview = KIND.preview(ctx, PreloadParams())
    applied = KIND.apply(ctx, PreloadParams())
    (route,) = preview.changes
    assert [h["link"] for h in route["hints"]] == [
        '<link rel="preload" as="image" href="/img/hero.jpg" fetchpriority="high">'
    ]
    assert route["writtenAsSitePath"] == [{"url": "https://evil.example/img/hero.jpg", "href": "/img/hero.jpg"}]
    written = (ctx.run_dir / "preload" / "preload-hints.html").read_text()
    assert written == applied.details["snippet"] == preview.details["snippet"]
    assert "evil.example" not in written


def test_the_same_image_from_the_sites_origin_and_a_forged_one_is_one_hint(make_ctx: MakeCtx) -> None:
    lcp = [("https://evil.example/img/hero.jpg", 30), ("https://shop.example/img/hero.jpg", 20), ("/img/rare.jpg", 8)]
    outcome = KIND.preview(make_ctx(attribution={"lcp.url": lcp}), PreloadParams(top=2))
    assert [(h["url"], h["reports"]) for h in outcome.changes[0]["hints"]] == [
        ("/img/hero.jpg", 50),
        ("/img/rare.jpg", 8),
    ]


@pytest.mark.parametrize(
    ("forged", "href"),
    [
        ("https://evil.example/img/missing.jpg", None),  # a foreign host, a path the site lacks
        ("//evil.example/img/hero.jpg", "/img/hero.jpg"),  # protocol-relative: the host goes, the site's path stays
        ("https://shop.example//evil.example/img/hero.jpg", None),  # its path as is would be protocol-relative
        ("/\\evil.example/img/hero.jpg", None),  # browsers read /\ as //
        ("javascript:alert(1)//img/hero.jpg", None),
        ("data:image/png;base64,AAAA", None),
    ],
)
def test_a_forged_host_never_reaches_the_snippet(make_ctx: MakeCtx, forged: str, href: str | None) -> None:
    ctx = make_ctx(attribution={"lcp.url": [(forged, 30)]})
    for params in (PreloadParams(), PreloadParams(only_hosted=False)):
        outcome = KIND.preview(ctx, params)
        (route,) = outcome.changes
        assert [h["url"] for h in route["hints"]] == ([href] if href else []), route
        if href is None:
            assert route["refused"][0]["url"] == forged
        assert "evil.example" not in outcome.details["snippet"] and "alert" not in outcome.details["snippet"]


def test_without_only_hosted_a_url_of_the_sites_own_origin_is_written_as_its_path(make_ctx: MakeCtx) -> None:
    lcp = [("https://shop.example/media/42", 30), ("https://evil.example/media/42", 30)]
    ctx = make_ctx(attribution={"lcp.url": lcp}, beacons={"allowed_origins": ["https://shop.example"]})
    outcome = KIND.preview(ctx, PreloadParams(only_hosted=False, top=2))
    (route,) = outcome.changes
    assert [h["url"] for h in route["hints"]] == ["/media/42"]
    assert route["refused"] == [
        {
            "url": "https://evil.example/media/42",
            "reports": 30,
            "reason": "https://evil.example is not one of the site's origins, and the site has no such file",
        }
    ]


def test_attribution_with_no_reports_writes_no_hint(make_ctx: MakeCtx) -> None:
    outcome = KIND.preview(make_ctx(attribution={"lcp.url": [("/img/hero.jpg", 0)]}), PreloadParams(min_share=0))
    assert outcome.changes[0]["hints"] == []
