"""A decompression bomb in the site (issue 11, point 9), through the real server with two workers.

A 13000 x 13000 PNG of about 180 KB sits in an uploads folder beside two ordinary photos. An anonymous dry
run of `optimize-images` used to decode it (over a gigabyte and many seconds); now the images action
measures it from its header, skips it with the reason, and still previews the photos beside it. Images
within the limit are decoded within the memory budget, not one per encoding thread at once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..actions.conftest import bomb_png, photo
from .stack import Server, dry_run, exporter

pytestmark = pytest.mark.integration

REASON = "uploads/big.png: 13000x13000 = 169 MP is over the 64 MP limit (actions.max_image_pixels), skipped"


def _descendants(pid: int) -> list[int]:
    """Every process under `pid` (the server's workers), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _peak_rss_mb(pid: int) -> float:
    """The largest peak resident set (VmHWM) of the server and its workers, in MB."""
    peaks = []
    for each in [pid, *_descendants(pid)]:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        peaks += [int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")]
    return max(peaks)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    tmp = tmp_path_factory.mktemp("bomb")
    site = tmp / "site"
    bomb_png(site / "uploads" / "big.png")
    (site / "img").mkdir(parents=True)
    photo(1600, 1000, 1).save(site / "img" / "hero.jpg", "JPEG", quality=92)
    photo(1200, 800, 2).save(site / "img" / "card.jpg", "JPEG", quality=92)
    with exporter(tmp, workers=2, config={"actions": {"allowed_dirs": [str(site)]}}) as srv:
        yield srv, site


@pytest.fixture(scope="module")
def large_images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Three 59 MP PNGs, each within the pixel limit and about 300 MB decoded: no two fit the default budget."""
    tmp = tmp_path_factory.mktemp("large")
    site = tmp / "site"
    for i in range(3):
        bomb_png(site / "uploads" / f"scan-{i}.png", 7700, 7700, noisy_rows=120 + i)  # over min_bytes
    with exporter(tmp, workers=2, config={"actions": {"allowed_dirs": [str(site)]}}) as srv:
        yield srv


def test_an_anonymous_dry_run_skips_the_bomb_with_its_reason_and_previews_the_photos(
    server: tuple[Server, Path],
) -> None:
    srv, site = server
    started = time.monotonic()
    run = dry_run(srv, "optimize-images", timeout=120)
    elapsed = time.monotonic() - started
    peak = _peak_rss_mb(srv.proc.pid)
    print(f"\ndry run with a 13000x13000 PNG in the site: {elapsed:.1f} s, peak RSS {peak:.0f} MB", file=sys.stderr)

    assert run["mode"] == "dry-run" and run["state"] == "succeeded", run
    images = run["actions"][0]
    assert images["kind"] == "images" and images["status"] == "previewed", images
    preview = images["preview"]
    assert REASON in preview["errors"]  # anonymous readers see the errors, not the details
    assert {c["source"] for c in preview["changes"]} == {"img/hero.jpg", "img/card.jpg"}
    assert preview["bytesSaved"] > 0
    assert "1 image(s) over the 64 MP limit skipped" in preview["summary"]
    # Decoding the bomb holds 169 MB as 1-bit pixels and 676 MB more as RGB: no worker came near that.
    assert peak < 600, f"a server process peaked at {peak:.0f} MB"
    assert not list(site.rglob("*.webp")) and not list(site.rglob("*.avif")), "a dry run wrote files"


def test_large_images_within_the_limit_are_decoded_one_at_a_time_within_the_memory_budget(
    large_images: Server,
) -> None:
    # The images action runs an encoding thread per core (two here); each image holds about 300 MB while it
    # is decoded, so two at once took a worker to 884 MB. The default budget (512 MiB) lets one in at a
    # time, and the pixels it freed go back to the system before the next one starts (without that, glibc
    # kept each thread's last image: 640 MB).
    run = dry_run(large_images, "optimize-images", timeout=120)
    peak = _peak_rss_mb(large_images.proc.pid)
    print(f"\ndry run of three 59 MP PNGs, two threads: peak RSS {peak:.0f} MB", file=sys.stderr)
    assert run["state"] == "succeeded", run
    preview = run["actions"][0]["preview"]
    assert len(preview["changes"]) == 3 and not preview["errors"], preview
    assert peak < 600, f"a server process peaked at {peak:.0f} MB"
