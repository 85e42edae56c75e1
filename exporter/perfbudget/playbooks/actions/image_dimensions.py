"""`image-dimensions`: add `width` and `height` to `<img>` tags that lack them, from the real image files.

Without them the browser cannot reserve the image's box before it loads, and the content below jumps
(CLS). The attributes only give the aspect ratio once CSS sets `width: 100%; height: auto`, so adding
them never changes a responsive layout. The HTML is patched textually at the parser's offsets, so
everything but the inserted attributes stays byte for byte as it was.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import Field

from .atomic import new_manifest
from .atomic import rollback as undo_writes
from .base import ActionContext, ActionOutcome, ActionParams, PathRefused, alert_route
from .decoding import header_of, open_image
from .paths import allowed_dirs, display, inside, roots, walk

_INTEGER = re.compile(r"^\s*(\d+)\s*(px)?\s*$")


class ImageDimensionsParams(ActionParams):
    # Subdirectories to scan; all allowed directories when empty.
    dirs: tuple[str, ...] = ()
    # Suffixes of the HTML and template files to patch.
    suffixes: tuple[str, ...] = (".html", ".htm")
    # CLS attribution (largest shift targets) shown beside the patch as evidence.
    show_attribution: bool = True
    route: str | None = None
    max_files: int | None = Field(default=None, ge=1)


@dataclass(frozen=True)
class _Img:
    start: int
    text: str
    attrs: dict[str, str | None]


class _ImgFinder(HTMLParser):
    """Collects every `<img>` start tag with its exact offset in the source text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self._line_starts = [0]
        for index, char in enumerate(text):
            if char == "\n":
                self._line_starts.append(index + 1)
        self.found: list[_Img] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._record(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._record(tag, attrs)

    def _record(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text()
        if tag != "img" or raw is None:
            return
        line, column = self.getpos()
        self.found.append(_Img(self._line_starts[line - 1] + column, raw, dict(attrs)))


def _source_file(src: str, page: Path, dirs: Sequence[Path]) -> Path | None:
    """The allowed file an img src points at: relative to the page, or from the root holding the page."""
    parts = urlsplit(src)
    if parts.scheme or parts.netloc or not parts.path or "{" in src:
        return None  # remote, data: or a template expression: nothing on disk to measure
    path = unquote(parts.path)
    if path.startswith("/"):
        root = next((d for d in dirs if page.is_relative_to(d)), dirs[0])
        candidate = root / path.lstrip("/")
    else:
        candidate = page.parent / path
    resolved = inside(candidate, dirs)
    return resolved if resolved.is_file() else None


def _intrinsic_size(path: Path) -> tuple[int, int]:
    # From the header only, EXIF-turned as browsers lay it out (image-orientation: from-image): nothing is
    # decoded, so a decompression bomb costs nothing here.
    with open_image(path) as image:
        header = header_of(image)
        return header.width, header.height


def _insert(tag: str, attributes: str) -> str:
    """`tag` with `attributes` added before its closing `>` or `/>`, the rest untouched."""
    self_closing = tag.endswith("/>")
    end = len(tag) - (2 if self_closing else 1)
    return f"{tag[:end].rstrip()} {attributes}{' ' if self_closing else ''}{tag[end:]}"


def _add_missing(tag: str, attrs: Mapping[str, str | None], width: int, height: int) -> str | None:
    """The tag with the missing dimension(s) added, or None when it has both or an unusable one."""
    has_w, has_h = "width" in attrs, "height" in attrs
    if has_w and has_h:
        return None
    if not has_w and not has_h:
        return _insert(tag, f'width="{width}" height="{height}"')
    # One given in pixels: keep it and complete the other from the intrinsic aspect ratio.
    given = _INTEGER.match(attrs.get("width" if has_w else "height") or "")
    if given is None:
        return None
    value = int(given.group(1))
    if has_w:
        return _insert(tag, f'height="{round(value * height / width)}"')
    return _insert(tag, f'width="{round(value * width / height)}"')


def _patch_file(page: Path, dirs: Sequence[Path]) -> tuple[str, str, list[dict[str, Any]], list[str]]:
    """(old text, new text, one change per img patched, problems) for one HTML file."""
    text = page.read_bytes().decode("utf-8")
    finder = _ImgFinder(text)
    finder.feed(text)
    finder.close()
    pieces: list[str] = []
    changes: list[dict[str, Any]] = []
    problems: list[str] = []
    cursor = 0
    for img in finder.found:
        if text[img.start : img.start + len(img.text)] != img.text:
            problems.append(f"{display(page, dirs)}: could not locate an <img> at offset {img.start}, left alone")
            continue
        src = img.attrs.get("src") or ""
        try:
            source = _source_file(src, page, dirs)
        except PathRefused as exc:
            problems.append(f"{display(page, dirs)}: {src}: {exc}")
            continue
        if source is None:
            continue
        try:
            width, height = _intrinsic_size(source)
        except (OSError, SyntaxError, ValueError) as exc:
            problems.append(f"{display(page, dirs)}: {src}: not a readable image ({exc})")
            continue
        patched = _add_missing(img.text, img.attrs, width, height)
        if patched is None:
            continue
        pieces += [text[cursor : img.start], patched]
        cursor = img.start + len(img.text)
        line = text.count("\n", 0, img.start) + 1
        changes.append(
            {"line": line, "src": src, "width": width, "height": height, "before": img.text, "after": patched}
        )
    pieces.append(text[cursor:])
    return text, "".join(pieces), changes, problems


_Patch = tuple[Path, str, str, list[dict[str, Any]]]


def _scan(ctx: ActionContext, params: ImageDimensionsParams) -> tuple[list[_Patch], list[str]]:
    dirs = allowed_dirs(ctx)
    pages, errors = walk(ctx, roots(ctx, params.dirs), params.suffixes)
    limit = min(params.max_files or ctx.config.actions.max_files_per_run, ctx.config.actions.max_files_per_run)
    patches: list[_Patch] = []
    for page in pages[:limit]:
        try:
            old, new, changes, problems = _patch_file(page, dirs)
        except UnicodeDecodeError:
            errors.append(f"{display(page, dirs)}: not UTF-8, skipped")
            continue
        errors += problems
        if changes:
            patches.append((page, old, new, changes))
    return patches, errors


def _diff(page: Path, old: str, new: str, dirs: Sequence[Path]) -> str:
    name = display(page, dirs)
    lines = difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}")
    return "".join(lines)


class ImageDimensionsAction:
    name = "image-dimensions"
    Params = ImageDimensionsParams

    def _outcome(self, ctx: ActionContext, params: ImageDimensionsParams, verb: str) -> ActionOutcome:
        dirs = allowed_dirs(ctx)
        patches, errors = _scan(ctx, params)
        manifest = new_manifest(ctx, self.name)
        changes: list[dict[str, Any]] = []
        for page, old, new, imgs in patches:
            if verb == "patched":
                try:
                    manifest.overwrite(page, new.encode("utf-8"))
                except OSError as exc:
                    errors.append(f"{display(page, dirs)}: cannot write ({exc})")
                    continue
            changes.append({"path": display(page, dirs), "images": imgs, "diff": _diff(page, old, new, dirs)})
        count = sum(len(c["images"]) for c in changes)
        details: dict[str, Any] = {"patch": "".join(c["diff"] for c in changes)}
        if params.show_attribution:
            details["clsTargets"] = [
                {"target": t, "reports": n} for t, n in ctx.attribution("cls.target", alert_route(ctx, params.route))
            ]
        summary = f"{count} <img> tag(s) in {len(changes)} file(s) {verb} with width and height"
        if not changes:
            summary = "every <img> with a local source already has width and height"
        return ActionOutcome(
            summary, changes, errors=errors, details=details, manifest=manifest.to_json() if verb == "patched" else None
        )

    def preview(self, ctx: ActionContext, params: ImageDimensionsParams) -> ActionOutcome:
        return self._outcome(ctx, params, "would be patched")

    def apply(self, ctx: ActionContext, params: ImageDimensionsParams) -> ActionOutcome:
        return self._outcome(ctx, params, "patched")

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        return undo_writes(ctx, manifest)


KIND = ImageDimensionsAction()
