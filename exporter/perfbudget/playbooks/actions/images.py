"""`images`: re-encode the heaviest JPEG/PNG/GIF images to WebP and AVIF, with responsive widths.

New files go beside each original (`hero.jpg` -> `hero.jpg.webp`, `hero-640w.jpg.avif`), so a server can
negotiate on Accept with `try_files $uri.webp $uri` and pages can list the widths in `srcset`. The
original is never touched. Preview encodes in memory with exactly the settings apply uses, so its
byte counts are the ones apply writes; on large sets it encodes a labelled sample and extrapolates.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator

from .atomic import new_manifest
from .atomic import rollback as undo_writes
from .base import ActionContext, ActionOutcome, ActionParams, alert_route
from .decoding import (
    PROCESS_BUDGET,
    DecodeBudget,
    OverPixelLimit,
    decoded_bytes,
    header_of,
    megapixels,
    open_image,
    read_header,
)
from .paths import allowed_dirs, display, roots, url_to_file, walk

if TYPE_CHECKING:  # Pillow is imported by the first image opened (decoding.open_image)
    from PIL import Image

Format = Literal["webp", "avif"]
SOURCE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif")
# MPO is what many phones write for JPEG photos; Pillow reports it separately.
SOURCE_FORMATS = {"JPEG", "MPO", "PNG", "GIF"}


class ImagesParams(ActionParams):
    # Subdirectories of the allowed directories to scan; all of them when empty.
    dirs: list[str] = Field(default_factory=list)
    # Images smaller than this are left alone: re-encoding them saves too little to matter.
    min_bytes: Annotated[int, Field(ge=0)] = 100_000
    formats: Annotated[tuple[Format, ...], Field(min_length=1)] = ("webp", "avif")
    webp_quality: Annotated[int, Field(ge=1, le=100)] = 80
    avif_quality: Annotated[int, Field(ge=0, le=100)] = 55
    # libaom speed 0-10: below 6 an encode of a 2000 px photo takes seconds for a few percent fewer bytes.
    avif_speed: Annotated[int, Field(ge=0, le=10)] = 8
    # The full-size variant is at most this wide (larger originals are scaled down).
    max_width: Annotated[int, Field(ge=16, le=16384)] = 2000
    # Extra widths for srcset; only those narrower than the full-size variant are produced.
    widths: tuple[Annotated[int, Field(ge=16, le=16384)], ...] = (640, 1024, 1600)
    # Route whose LCP attribution ranks the images; the alert's `route` label when unset.
    route: str | None = None
    max_files: Annotated[int, Field(ge=1)] | None = None
    # Preview encodes every file up to this many; beyond it, a sample of this size and an extrapolation.
    preview_sample: Annotated[int, Field(ge=1, le=10_000)] = 24
    # Encoding threads; the machine's cores when unset (Pillow releases the GIL while it codes).
    workers: Annotated[int, Field(ge=1, le=64)] | None = None

    @field_validator("formats", "widths")
    @classmethod
    def _unique(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(set(value)) != len(value):
            raise ValueError("must not repeat a value")
        return value


@dataclass(frozen=True)
class _Output:
    path: Path
    format: Format
    width: int
    full: bool


@dataclass
class _Job:
    source: Path
    size: int
    mode: int
    width: int
    height: int
    outputs: list[_Output]
    lcp_reports: int = 0


@dataclass
class _Encoded:
    job: _Job
    files: list[tuple[_Output, bytes]] = field(default_factory=list)
    # Outputs dropped because they would not be smaller than the original.
    not_smaller: list[_Output] = field(default_factory=list)
    error: str | None = None


def _outputs(source: Path, width: int, params: ImagesParams) -> list[_Output]:
    full = min(width, params.max_width)
    out: list[_Output] = []
    for fmt in params.formats:
        out.append(_Output(source.with_name(f"{source.name}.{fmt}"), fmt, full, True))
        for w in sorted(w for w in params.widths if w < full):
            out.append(_Output(source.with_name(f"{source.stem}-{w}w{source.suffix}.{fmt}"), fmt, w, False))
    return out


def _plan(ctx: ActionContext, params: ImagesParams) -> tuple[list[_Job], list[str], dict[str, Any]]:
    """Every image apply would work on, in order (LCP-named first, then largest), errors, and notes."""
    dirs = allowed_dirs(ctx)
    files, errors = walk(ctx, roots(ctx, params.dirs), SOURCE_SUFFIXES)
    route = alert_route(ctx, params.route)
    lcp: dict[Path, int] = {}
    unmatched: list[dict[str, Any]] = []
    for url, count in ctx.attribution("lcp.url", route):
        path = url_to_file(url, dirs)
        if path is not None:
            lcp[path] = lcp.get(path, 0) + count
        else:  # served from elsewhere (a CDN), or a URL that names no file at all
            unmatched.append({"url": url, "reports": count})
    jobs: list[_Job] = []
    too_large: list[str] = []
    done = skipped = 0
    limit = ctx.config.actions.max_image_pixels
    for path in files:
        size = path.stat().st_size
        if size < params.min_bytes:
            continue
        try:
            # The header only: a decompression bomb is refused here, before a single pixel is decoded.
            header = read_header(path, limit)
        except OverPixelLimit as exc:
            too_large.append(display(path, dirs))
            errors.append(f"{display(path, dirs)}: {exc} (actions.max_image_pixels), skipped")
            continue
        except (OSError, SyntaxError, ValueError) as exc:
            errors.append(f"{display(path, dirs)}: not a readable image ({exc}), skipped")
            continue
        if header.format not in SOURCE_FORMATS:
            errors.append(f"{display(path, dirs)}: {header.format} data behind a {path.suffix} name, skipped")
            continue
        if header.frames > 1:
            # Animated images would need every frame re-encoded; a still frame would break them.
            skipped += 1
            continue
        width, height = header.width, header.height
        outputs = [o for o in _outputs(path, width, params) if not o.path.exists()]
        if not outputs:
            done += 1
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        jobs.append(_Job(path, size, mode, width, height, outputs, lcp.get(path, 0)))
    jobs.sort(key=lambda j: (-j.lcp_reports, -j.size, str(j.source)))
    most = min(params.max_files or ctx.config.actions.max_files_per_run, ctx.config.actions.max_files_per_run)
    budget = ctx.config.actions.max_bytes_per_run
    kept: list[_Job] = []
    total = 0
    for job in jobs:
        if len(kept) >= most or total + job.size > budget:
            break
        kept.append(job)
        total += job.size
    notes = {
        "route": route,
        "alreadyDone": done,
        "animatedSkipped": skipped,
        "pixelLimit": limit,
        "overPixelLimit": too_large,
        "leftForLaterRuns": len(jobs) - len(kept),
        "lcpNamed": [{"path": display(p, dirs), "reports": c} for p, c in sorted(lcp.items(), key=lambda i: -i[1])],
        "lcpUnmatched": unmatched,
    }
    return kept, errors, notes


def _prepare(image: Image.Image) -> Image.Image:
    """Upright, in a mode both encoders take, and with no metadata but the colour profile.

    `image` is turned upright in place: a copy of an image that needs no turning would be one more
    decoded copy to hold (see decoding.decoded_bytes).
    """
    from PIL import ImageOps

    ImageOps.exif_transpose(image, in_place=True)
    upright = image
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    converted = upright.convert("RGBA" if has_alpha else "RGB")
    # The ICC profile is colour data, not metadata: dropping a Display P3 profile would shift colours.
    # A CMYK profile describes the old pixels, not the converted RGB ones, so that one goes.
    icc = upright.info.get("icc_profile") if upright.mode != "CMYK" else None
    converted.info = {"icc_profile": icc} if icc else {}
    return converted


def _encode_one(image: Image.Image, output: _Output, params: ImagesParams, flat: bool, threads: int) -> bytes:
    buffer = io.BytesIO()
    icc = image.info.get("icc_profile")
    extra: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if output.format == "webp":
        if flat:
            # Logos and diagrams (few colours) compress better lossless, and lossy would blur their edges.
            image.save(buffer, "WEBP", lossless=True, quality=80, method=4, exact=False, **extra)
        else:
            image.save(buffer, "WEBP", quality=params.webp_quality, method=4, **extra)
    else:
        image.save(buffer, "AVIF", quality=params.avif_quality, speed=params.avif_speed, max_threads=threads, **extra)
    return buffer.getvalue()


def _height(width: int, height: int, w: int) -> int:
    return max(1, round(height * w / width))


def _encode_decoded(original: Image.Image, result: _Encoded, params: ImagesParams, threads: int) -> None:
    """Every output of one image into `result`; the decoded copies are freed when this returns."""
    from PIL import Image

    job = result.job
    prepared = _prepare(original)
    flat = job.source.suffix.lower() in (".png", ".gif") and prepared.getcolors(256) is not None
    scaled: dict[int, Image.Image] = {}
    for output in job.outputs:
        if output.width not in scaled:
            w = output.width
            h = _height(prepared.width, prepared.height, w)
            # Every width is resampled from the upright original, never from another variant.
            scaled[w] = prepared if w == prepared.width else prepared.resize((w, h), Image.Resampling.LANCZOS)
            scaled[w].info = prepared.info
        data = _encode_one(scaled[output.width], output, params, flat, threads)
        if output.full and len(data) >= job.size:
            result.not_smaller.append(output)
        else:
            result.files.append((output, data))


@dataclass(frozen=True)
class _Bounds:
    pixels: int
    memory: int
    budget: DecodeBudget


def _encode(job: _Job, params: ImagesParams, threads: int, bounds: _Bounds) -> tuple[_Encoded, int]:
    """One image encoded within the bounds; with the bytes the budget held while it was decoded (0: none)."""
    from PIL import Image

    result = _Encoded(job)
    held = 0
    try:
        with open_image(job.source) as original:
            # Measured again: the file may have been replaced since the plan read its header.
            header = header_of(original, bounds.pixels)
            resized = {(o.width, _height(header.width, header.height, o.width)) for o in job.outputs}
            need = decoded_bytes(header, resized)
            with bounds.budget.hold(need, bounds.memory) as held:
                try:
                    _encode_decoded(original, result, params, threads)
                finally:
                    original.close()  # the decoded pixels go before the budget is given back
    except OverPixelLimit as exc:
        result.error = f"{exc} (actions.max_image_pixels), skipped"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        result.error = f"cannot re-encode ({exc})"
    return result, held


@dataclass
class _Peak:
    """The most decoded bytes held at once (this process's budget) while one run was encoding."""

    bytes: int = 0


def _run(ctx: ActionContext, jobs: Sequence[_Job], params: ImagesParams, verb: str, peak: _Peak) -> Iterator[_Encoded]:
    """Encode jobs on a thread pool, yielding each as it finishes (in completion order).

    The pool bounds the CPU; the process's decode budget bounds the memory: a thread waits for room
    before it decodes, so several threads never hold several large images at once.
    """
    workers = min(params.workers or os.cpu_count() or 1, max(1, len(jobs)))
    # With several files in flight the cores are already busy: libaom's own threads would only contend.
    threads = 1 if workers > 1 else (os.cpu_count() or 1)
    actions = ctx.config.actions
    bounds = _Bounds(actions.max_image_pixels, actions.decode_memory_bytes, PROCESS_BUDGET)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="images") as pool:
        futures: list[Future[tuple[_Encoded, int]]] = [
            pool.submit(_encode, job, params, threads, bounds) for job in jobs
        ]
        for n, future in enumerate(as_completed(futures), 1):
            encoded, held = future.result()
            peak.bytes = max(peak.bytes, held)
            ctx.progress(f"images: {n}/{len(jobs)} {verb} ({encoded.job.source.name})")
            yield encoded


def _decoding(ctx: ActionContext, peak: _Peak) -> dict[str, int]:
    return {"memoryBudget": ctx.config.actions.decode_memory_bytes, "estimatedPeakBytes": peak.bytes}


def _sample(jobs: list[_Job], size: int) -> list[_Job]:
    """LCP-named images first, then evenly spaced by file size so small and large files are both seen."""
    named = [j for j in jobs if j.lcp_reports][:size]
    rest = sorted((j for j in jobs if not j.lcp_reports), key=lambda j: j.size)
    room = size - len(named)
    if room <= 0 or not rest:
        return named
    step = len(rest) / room
    return named + [rest[int(i * step)] for i in range(min(room, len(rest)))]


def _change(encoded: _Encoded, dirs: Sequence[Path]) -> dict[str, Any]:
    job = encoded.job
    outputs = [
        {"path": display(o.path, dirs), "format": o.format, "width": o.width, "bytes": len(data)}
        for o, data in encoded.files
    ]
    srcset = {
        fmt: ", ".join(
            f"{o.path.name} {o.width}w" for o, _ in sorted(encoded.files, key=lambda f: f[0].width) if o.format == fmt
        )
        for fmt in {o.format for o, _ in encoded.files}
    }
    change: dict[str, Any] = {
        "source": display(job.source, dirs),
        "bytesBefore": job.size,
        "width": job.width,
        "height": job.height,
        "outputs": outputs,
        "srcset": srcset,
        "lcpReports": job.lcp_reports,
    }
    if encoded.not_smaller:
        change["notSmaller"] = [display(o.path, dirs) for o in encoded.not_smaller]
    return change


def _over_limit_note(notes: Mapping[str, Any]) -> str:
    count = len(notes["overPixelLimit"])
    return f"; {count} image(s) over the {megapixels(notes['pixelLimit'])} limit skipped" if count else ""


def _best_full(encoded: _Encoded) -> int:
    """What a browser taking the smallest new full-size format downloads (the original when none won)."""
    sizes = [len(data) for o, data in encoded.files if o.full]
    return min(sizes, default=encoded.job.size)


class ImagesAction:
    name = "images"
    Params = ImagesParams

    def preview(self, ctx: ActionContext, params: ImagesParams) -> ActionOutcome:
        dirs = allowed_dirs(ctx)
        jobs, errors, notes = _plan(ctx, params)
        sampled = len(jobs) > params.preview_sample
        chosen = _sample(jobs, params.preview_sample) if sampled else jobs
        changes: list[dict[str, Any]] = []
        before = after = written = 0
        peak = _Peak()
        for encoded in _run(ctx, chosen, params, "encoded in memory", peak):
            if encoded.error:
                errors.append(f"{display(encoded.job.source, dirs)}: {encoded.error}")
                continue
            changes.append(_change(encoded, dirs))
            before += encoded.job.size
            after += _best_full(encoded)
            written += sum(len(d) for _, d in encoded.files)
        changes.sort(key=lambda c: (-c["lcpReports"], -c["bytesBefore"], c["source"]))
        details: dict[str, Any] = {
            **notes,
            "files": len(jobs),
            "bytesWritten": written,
            "decoding": _decoding(ctx, peak),
        }
        summary = f"{len(jobs)} image(s) to re-encode as {', '.join(params.formats)}"
        if sampled and before:
            # Unsampled files are assumed to shrink by the sample's ratio; labelled so nobody mistakes it.
            rest = sum(j.size for j in jobs) - before
            est_after = after + round(rest * after / before)
            est_written = written + round(rest * written / before)
            details["sample"] = {
                "files": len(changes),
                "of": len(jobs),
                "method": "LCP-named images, then evenly spaced by size; the rest extrapolated by the sample's ratio",
                "measuredBytesBefore": before,
                "measuredBytesAfter": after,
            }
            details["bytesWritten"] = est_written
            before, after = sum(j.size for j in jobs), est_after
            summary += f" (ESTIMATE: {len(changes)} of {len(jobs)} encoded, the rest extrapolated)"
        if before:
            summary += f": {before:,} -> {after:,} bytes ({100 * (before - after) / before:.0f}% less)"
        summary += _over_limit_note(notes)
        return ActionOutcome(summary, changes, before, after, errors, details)

    def apply(self, ctx: ActionContext, params: ImagesParams) -> ActionOutcome:
        dirs = allowed_dirs(ctx)
        jobs, errors, notes = _plan(ctx, params)
        manifest = new_manifest(ctx, self.name)
        changes: list[dict[str, Any]] = []
        before = after = written = 0
        peak = _Peak()
        for encoded in _run(ctx, jobs, params, "written", peak):
            source = display(encoded.job.source, dirs)
            if encoded.error:
                errors.append(f"{source}: {encoded.error}")
                continue
            for output, data in list(encoded.files):
                try:
                    manifest.create(output.path, data, encoded.job.mode)
                except FileExistsError:
                    # Something else wrote it between plan and write: theirs stays, ours is dropped.
                    encoded.files.remove((output, data))
                    errors.append(f"{display(output.path, dirs)}: appeared during the run, left as it is")
                except OSError as exc:
                    encoded.files.remove((output, data))
                    errors.append(f"{display(output.path, dirs)}: cannot write ({exc})")
            changes.append(_change(encoded, dirs))
            before += encoded.job.size
            after += _best_full(encoded)
            written += sum(len(d) for _, d in encoded.files)
        changes.sort(key=lambda c: (-c["lcpReports"], -c["bytesBefore"], c["source"]))
        files = sum(len(c["outputs"]) for c in changes)
        summary = f"wrote {files} file(s) for {len(changes)} image(s)"
        if not jobs:
            summary = "nothing to do: every image above the threshold already has its variants"
        elif before:
            summary += f": {before:,} -> {after:,} bytes ({100 * (before - after) / before:.0f}% less)"
        summary += _over_limit_note(notes)
        details = {**notes, "files": len(jobs), "bytesWritten": written, "decoding": _decoding(ctx, peak)}
        return ActionOutcome(summary, changes, before, after, errors, details, manifest.to_json())

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        return undo_writes(ctx, manifest)


KIND = ImagesAction()
