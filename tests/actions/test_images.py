"""The images kind against real images made with Pillow: previews tell the truth, apply is safe and undoable."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from perfbudget.playbooks.actions import KINDS, PathRefused
from perfbudget.playbooks.actions.images import ImagesParams

from .conftest import MakeCtx, bomb_png, flat, photo, tree

KIND = KINDS["images"]
# WebP only, small images: fast tests. AVIF gets its own test on two small files.
FAST = {"formats": ["webp"], "min_bytes": 1000, "widths": [160], "max_width": 400}


def params(**overrides: object) -> ImagesParams:
    return ImagesParams.model_validate({**FAST, **overrides})


def save(image: Image.Image, path: Path, fmt: str, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt, **kwargs)
    return path


@pytest.fixture
def images(site: Path) -> Path:
    """A small site: two photos (one wider than max_width), a flat PNG, a tiny icon under the threshold."""
    save(photo(640, 400, 1), site / "img" / "hero.jpg", "JPEG", quality=92)
    save(photo(320, 240, 2), site / "img" / "card.jpg", "JPEG", quality=92)
    save(flat(300, 200), site / "img" / "logo.png", "PNG")
    save(photo(16, 16, 3), site / "img" / "icon.png", "PNG")
    return site


def test_preview_predicts_exactly_the_bytes_apply_writes(images: Path, make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    before = tree(images)
    preview = KIND.preview(ctx, params())
    assert tree(images) == before, "preview changed the site"
    applied = KIND.apply(ctx, params())

    predicted = {o["path"]: o["bytes"] for c in preview.changes for o in c["outputs"]}
    written = {o["path"]: o["bytes"] for c in applied.changes for o in c["outputs"]}
    on_disk = {p: (images / p).stat().st_size for p in written}
    assert predicted == written == on_disk
    assert set(written) == {
        "img/hero.jpg.webp",
        "img/hero-160w.jpg.webp",
        "img/card.jpg.webp",
        "img/card-160w.jpg.webp",
        "img/logo.png.webp",
        "img/logo-160w.png.webp",
    }
    assert preview.bytes_before == applied.bytes_before
    assert preview.bytes_after == applied.bytes_after
    assert preview.details["bytesWritten"] == applied.details["bytesWritten"] == sum(on_disk.values())
    assert applied.bytes_saved is not None and applied.bytes_saved > 0
    assert not applied.errors


def test_apply_leaves_originals_byte_identical_and_rollback_restores_the_tree(images: Path, make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    before = tree(images)
    applied = KIND.apply(ctx, params())
    after = tree(images)
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(after) == len(before) + 6

    assert applied.manifest is not None
    undone = KIND.rollback(ctx, applied.manifest)
    assert tree(images) == before
    assert not undone.errors
    assert "rolled back 6 file(s)" in undone.summary


def test_a_second_apply_changes_nothing(images: Path, make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    KIND.apply(ctx, params())
    after_first = tree(images)
    second = KIND.apply(ctx, params())
    assert tree(images) == after_first
    assert second.manifest is None
    assert second.changes == []
    assert second.details["alreadyDone"] == 3
    assert "nothing to do" in second.summary


def test_a_file_already_there_is_never_overwritten(images: Path, make_ctx: MakeCtx) -> None:
    theirs = images / "img" / "hero.jpg.webp"
    theirs.write_bytes(b"someone else's webp")
    applied = KIND.apply(make_ctx(), params())
    assert theirs.read_bytes() == b"someone else's webp"
    assert "img/hero.jpg.webp" not in {o["path"] for c in applied.changes for o in c["outputs"]}
    assert (images / "img" / "hero-160w.jpg.webp").exists()


def test_outputs_are_resized_to_max_width_and_the_responsive_widths(images: Path, make_ctx: MakeCtx) -> None:
    KIND.apply(make_ctx(), params())
    with Image.open(images / "img" / "hero.jpg.webp") as full, Image.open(images / "img" / "hero-160w.jpg.webp") as w:
        assert full.size == (400, 250)
        assert w.size == (160, 100)
    with Image.open(images / "img" / "card.jpg.webp") as card:
        assert card.size == (320, 240), "never upscaled"


def test_exif_orientation_is_applied_and_metadata_stripped(site: Path, make_ctx: MakeCtx) -> None:
    # Stored landscape, left half red; orientation 6 means "rotate 90 degrees clockwise to display",
    # so the displayed image is portrait with the red half on top.
    stored = photo(300, 200, 4)
    stored.paste((255, 0, 0), (0, 0, 150, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "CameraMaker"
    save(stored, site / "rotated.jpg", "JPEG", quality=92, exif=exif.tobytes())

    KIND.apply(make_ctx(), params(widths=[]))
    with Image.open(site / "rotated.jpg.webp") as out:
        assert out.size == (200, 300)
        rgb = out.convert("RGB")
        top, bottom = rgb.getpixel((100, 40)), rgb.getpixel((100, 260))
        assert isinstance(top, tuple) and isinstance(bottom, tuple)
        assert top[0] > 200 and top[1] < 60, top
        assert not (bottom[0] > 200 and bottom[1] < 60), bottom
        assert not out.getexif(), "EXIF (camera, orientation) must be stripped"
        assert "xmp" not in out.info


def test_a_colour_profile_is_kept(site: Path, make_ctx: MakeCtx) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    save(photo(200, 150, 5), site / "p3.jpg", "JPEG", quality=92, icc_profile=icc)
    KIND.apply(make_ctx(), params(widths=[]))
    with Image.open(site / "p3.jpg.webp") as out:
        assert out.info.get("icc_profile") == icc


def test_avif_and_webp_both_written_and_predicted(site: Path, make_ctx: MakeCtx) -> None:
    save(photo(240, 160, 6), site / "a.jpg", "JPEG", quality=92)
    save(photo(200, 200, 7), site / "b.png", "PNG")
    ctx = make_ctx()
    p = params(formats=["webp", "avif"], widths=[])
    preview = KIND.preview(ctx, p)
    applied = KIND.apply(ctx, p)
    written = {o["path"]: o["bytes"] for c in applied.changes for o in c["outputs"]}
    assert set(written) == {"a.jpg.webp", "a.jpg.avif", "b.png.webp", "b.png.avif"}
    assert {o["path"]: o["bytes"] for c in preview.changes for o in c["outputs"]} == written
    assert all((site / name).stat().st_size == size for name, size in written.items())
    with Image.open(site / "a.jpg.avif") as avif:
        assert avif.format == "AVIF" and avif.size == (240, 160)


def test_a_corrupt_image_is_reported_and_the_rest_go_on(images: Path, make_ctx: MakeCtx) -> None:
    (images / "img" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 200)
    applied = KIND.apply(make_ctx(), params())
    assert any(e.startswith("img/broken.jpg: not a readable image") for e in applied.errors)
    assert (images / "img" / "hero.jpg.webp").exists()


def test_a_symlink_to_an_image_outside_the_allowed_dirs_is_refused(
    images: Path, tmp_path: Path, make_ctx: MakeCtx
) -> None:
    outside = save(photo(300, 200, 8), tmp_path / "outside" / "secret.jpg", "JPEG")
    (images / "img" / "link.jpg").symlink_to(outside)
    applied = KIND.apply(make_ctx(), params())
    assert any("link.jpg" in e and "outside the allowed directories" in e for e in applied.errors)
    assert not list(outside.parent.glob("*.webp"))
    assert not (images / "img" / "link.jpg.webp").exists()


@pytest.mark.parametrize("escape", ["..", "../outside", "img/../../outside"])
def test_a_directory_parameter_that_escapes_is_refused(
    images: Path, tmp_path: Path, make_ctx: MakeCtx, escape: str
) -> None:
    (tmp_path / "outside").mkdir(exist_ok=True)
    with pytest.raises(PathRefused, match="outside the allowed directories"):
        KIND.preview(make_ctx(), params(dirs=[escape]))


def test_a_symlinked_directory_parameter_that_escapes_is_refused(
    images: Path, tmp_path: Path, make_ctx: MakeCtx
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (images / "shortcut").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PathRefused):
        KIND.apply(make_ctx(), params(dirs=["shortcut"]))


def test_images_the_lcp_attribution_names_come_first(images: Path, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(
        attribution={"lcp.url": [("https://shop.example/img/card.jpg?v=3", 40), ("/img/missing.jpg", 9)]},
        alert_labels={"route": "/product/:id"},
    )
    applied = KIND.apply(ctx, params(max_files=1))
    assert [c["source"] for c in applied.changes] == ["img/card.jpg"]
    assert applied.changes[0]["lcpReports"] == 40
    assert applied.details["route"] == "/product/:id"
    assert applied.details["lcpNamed"] == [{"path": "img/card.jpg", "reports": 40}]
    assert applied.details["leftForLaterRuns"] == 2


def test_a_large_set_is_previewed_from_a_labelled_sample(images: Path, make_ctx: MakeCtx) -> None:
    preview = KIND.preview(make_ctx(), params(preview_sample=2))
    assert "ESTIMATE" in preview.summary
    sample = preview.details["sample"]
    assert sample["files"] == 2 and sample["of"] == 3
    assert len(preview.changes) == 2
    assert preview.bytes_before == sum(
        (images / "img" / n).stat().st_size for n in ("hero.jpg", "card.jpg", "logo.png")
    )


def test_progress_lines_are_reported(images: Path, make_ctx: MakeCtx) -> None:
    lines: list[str] = []
    KIND.apply(make_ctx(progress=lines), params())
    assert len(lines) == 3 and lines[-1].startswith("images: 3/3 written")


def test_the_files_per_run_limit_holds(images: Path, make_ctx: MakeCtx) -> None:
    applied = KIND.apply(make_ctx(max_files_per_run=2), params())
    assert len(applied.changes) == 2
    assert applied.details["leftForLaterRuns"] == 1


def test_rollback_leaves_a_file_edited_since_apply(images: Path, make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    applied = KIND.apply(ctx, params())
    assert applied.manifest is not None
    edited = images / "img" / "card.jpg.webp"
    edited.write_bytes(b"edited by hand")
    undone = KIND.rollback(ctx, applied.manifest)
    assert edited.read_bytes() == b"edited by hand"
    assert any("card.jpg.webp: changed since apply" in e for e in undone.errors)
    assert not (images / "img" / "hero.jpg.webp").exists()


def test_rollback_refuses_a_manifest_pointing_outside(images: Path, tmp_path: Path, make_ctx: MakeCtx) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    manifest = {"version": 1, "kind": "images", "created": [{"path": str(victim), "sha256": "x", "bytes": 7}]}
    undone = KIND.rollback(make_ctx(), manifest)
    assert victim.read_text() == "keep me"
    assert "outside the allowed directories" in undone.errors[0]


def test_outputs_decode_and_the_flat_graphic_keeps_its_alpha(images: Path, make_ctx: MakeCtx) -> None:
    KIND.apply(make_ctx(), params())
    with Image.open(io.BytesIO((images / "img" / "logo.png.webp").read_bytes())) as logo:
        assert logo.mode == "RGBA"
        assert logo.getpixel((2, 2)) == (0, 0, 0, 0) or logo.getpixel((2, 2))[3] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"formats": ["webp", "webp"]}, "must not repeat a value"),
        ({"formats": ["jxl"]}, "Input should be 'webp' or 'avif'"),
        ({"avif_speed": 11}, "less than or equal to 10"),
        ({"quality": 80}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_parameters_are_rejected_when_the_playbook_loads(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ImagesParams.model_validate({**FAST, **change})


def test_an_lcp_url_that_names_no_possible_file_is_skipped_and_reported(images: Path, make_ctx: MakeCtx) -> None:
    # Attribution comes from anonymous beacons: `%00` decodes to a NUL byte, which no path may hold.
    bad = [("https://x.example/%00.jpg", 9), ("/" + "a" * 5000 + ".jpg", 3)]
    ctx = make_ctx(attribution={"lcp.url": [("https://shop.example/img/card.jpg", 40), *bad]})
    outcome = KIND.preview(ctx, params())
    assert outcome.details["lcpNamed"] == [{"path": "img/card.jpg", "reports": 40}]
    assert outcome.details["lcpUnmatched"] == [{"url": url, "reports": count} for url, count in bad]


BOMB_REASON = "uploads/big.png: 13000x13000 = 169 MP is over the 64 MP limit (actions.max_image_pixels), skipped"


def test_a_decompression_bomb_is_skipped_from_its_header_and_the_other_images_are_optimised(
    images: Path, make_ctx: MakeCtx
) -> None:
    bomb_png(images / "uploads" / "big.png")  # 180 KB on disk, 169 MP decoded
    ctx = make_ctx()
    for outcome in (KIND.preview(ctx, params()), KIND.apply(ctx, params())):
        assert BOMB_REASON in outcome.errors
        assert outcome.details["overPixelLimit"] == ["uploads/big.png"]
        assert outcome.details["pixelLimit"] == 64_000_000
        assert outcome.summary.endswith("; 1 image(s) over the 64 MP limit skipped")
        assert {c["source"] for c in outcome.changes} == {"img/hero.jpg", "img/card.jpg", "img/logo.png"}
    assert (images / "img" / "hero.jpg.webp").is_file()
    assert not list((images / "uploads").glob("*.webp"))


def test_the_pixel_limit_comes_from_the_config(images: Path, make_ctx: MakeCtx) -> None:
    outcome = KIND.preview(make_ctx(max_image_pixels=100_000), params())  # hero.jpg is 640x400
    assert "img/hero.jpg: 640x400 = 0.3 MP is over the 0.1 MP limit (actions.max_image_pixels), skipped" in (
        outcome.errors
    )
    assert {c["source"] for c in outcome.changes} == {"img/card.jpg", "img/logo.png"}


def test_decoding_is_bounded_by_the_memory_budget_as_well_as_by_the_threads(images: Path, make_ctx: MakeCtx) -> None:
    # One at a time, the peak is the largest image's; in a budget that no two images fit in together, two
    # threads must reach the same peak, never two images' worth.
    alone = KIND.preview(make_ctx(), params(workers=1)).details["decoding"]
    assert alone["estimatedPeakBytes"] > 1 << 20  # hero.jpg alone is more than the budget below
    bounded = KIND.preview(make_ctx(decode_memory_bytes=1 << 20), params(workers=2)).details["decoding"]
    assert bounded == {"memoryBudget": 1 << 20, "estimatedPeakBytes": alone["estimatedPeakBytes"]}
