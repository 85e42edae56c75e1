"""Benchmark: the `images` action's preview and apply against Debian's reference `cwebp`, same files, same quality.

Not a timed test: run it by hand and read the table.

    .venv/bin/python benchmarks/images.py [--count 100] [--width 2000] [--height 1200] [--avif]

It makes N photo-like JPEGs in a temporary directory, then times, side by side:
preview and apply of WebP at quality 80 (method 4) serial (1 thread) and parallel (one thread per core),
and `cwebp -q 80 -m 4 -metadata none` on the same files, serial and parallel (one process per core).
With --avif it also times the action's default (WebP + AVIF + responsive widths), parallel.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from perfbudget.config.model import Config
from perfbudget.playbooks.actions import KINDS, ActionContext
from perfbudget.playbooks.actions.images import ImagesParams

QUALITY = 80
T = TypeVar("T")


def photo(width: int, height: int, seed: int) -> Image.Image:
    """Photo-like: blurred shapes under fine noise (what encoders face with real photographs)."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(16):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(width // 20, width // 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    image = image.filter(ImageFilter.GaussianBlur(width / 200))
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 20 + 4 * i) for i in range(3)])
    return ImageChops.blend(image, noise, 0.2)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def context(site: Path, data: Path) -> ActionContext:
    config = Config.model_validate({"data_dir": str(data)})
    return ActionContext(run_id="bench", config=config, allowed_dirs=(site.resolve(),), run_dir=data / "runs" / "bench")


def clean(site: Path) -> None:
    for path in site.iterdir():
        if path.suffix in (".webp", ".avif"):
            path.unlink()


def cwebp(files: list[Path], out: Path, workers: int) -> int:
    def one(path: Path) -> int:
        target = out / (path.name + ".webp")
        subprocess.run(
            ["cwebp", "-quiet", "-q", str(QUALITY), "-m", "4", "-metadata", "none", str(path), "-o", str(target)],
            check=True,
        )
        return target.stat().st_size

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(one, files))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--width", type=int, default=2000)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument("--avif", action="store_true", help="also time the default WebP+AVIF+widths set")
    args = parser.parse_args()
    if shutil.which("cwebp") is None:
        print("cwebp not found: apt-get install webp", file=sys.stderr)
        return 1
    cores = os.cpu_count() or 1
    kind = KINDS["images"]
    with tempfile.TemporaryDirectory() as tmp:
        site, data, ref = Path(tmp, "site"), Path(tmp, "data"), Path(tmp, "cwebp")
        site.mkdir()
        ref.mkdir()
        for i in range(args.count):
            photo(args.width, args.height, i).save(site / f"photo{i:03d}.jpg", "JPEG", quality=85)
        files = sorted(site.glob("*.jpg"))
        original = sum(f.stat().st_size for f in files)
        print(f"{args.count} JPEGs of {args.width}x{args.height}, {original:,} bytes, {cores} core(s)\n")
        common = {
            "formats": ["webp"],
            "widths": [],
            "max_width": args.width,
            "min_bytes": 0,
            "webp_quality": QUALITY,
            "preview_sample": args.count,
        }
        rows: list[tuple[str, float, int]] = []
        for label, workers in (("serial", 1), (f"parallel x{cores}", cores)):
            params = ImagesParams.model_validate({**common, "workers": workers})
            seconds, preview = timed(partial(kind.preview, context(site, data), params))
            rows.append((f"images preview, WebP, {label}", seconds, preview.details["bytesWritten"]))
            seconds, applied = timed(partial(kind.apply, context(site, data), params))
            rows.append((f"images apply, WebP, {label}", seconds, applied.details["bytesWritten"]))
            clean(site)
            for old in ref.iterdir():
                old.unlink()
            seconds, size = timed(partial(cwebp, files, ref, workers))
            rows.append((f"cwebp -q {QUALITY} -m 4, {label}", seconds, size))
        if args.avif:
            params = ImagesParams.model_validate({"min_bytes": 0, "preview_sample": args.count})
            seconds, applied = timed(partial(kind.apply, context(site, data), params))
            rows.append(("images apply, defaults (WebP+AVIF, 3 widths)", seconds, applied.details["bytesWritten"]))
        width = max(len(r[0]) for r in rows)
        print(f"{'':{width}}  {'seconds':>8}  {'ms/image':>8}  {'bytes written':>14}  {'vs original':>11}")
        for label, seconds, size in rows:
            print(
                f"{label:{width}}  {seconds:8.2f}  {1000 * seconds / args.count:8.1f}  {size:14,}  "
                f"{100 * size / original:10.1f}%"
            )
        by = {r[0]: r[1] for r in rows}
        for label in ("serial", f"parallel x{cores}"):
            ratio = by[f"images apply, WebP, {label}"] / by[f"cwebp -q {QUALITY} -m 4, {label}"]
            print(f"\napply / cwebp wall time, {label}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
