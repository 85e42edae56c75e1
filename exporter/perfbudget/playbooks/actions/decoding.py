"""Decoding images within bounds: a pixel limit read from the header, and a memory budget for the pixels.

A PNG of a few hundred kilobytes can hold 13000 x 13000 pixels (a decompression bomb): decoding it takes
hundreds of megabytes and seconds of CPU. `Image.open` reads only the header, so every image is measured
there first and refused above `actions.max_image_pixels`; what is decoded is then held within
`actions.decode_memory_bytes`, shared by every encoding thread of every run in the process, so N threads
cannot each hold a large image at once.

Pillow (4.6 MiB a process) is imported by the first image opened (`open_image`), not with the actions: a
server whose playbooks never touch an image does not carry it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ... import heap
from ...config.playbooks import HIGHEST_IMAGE_PIXELS

if TYPE_CHECKING:
    from PIL import Image

# Bytes per pixel Pillow's core stores for a mode: 1 for 1-bit, L and P, 2 for 16-bit, 4 for the rest.
_ONE_BYTE = {"1", "L", "P"}


class OverPixelLimit(Exception):
    """An image has more pixels than the limit: decoding it could exhaust memory."""


@dataclass(frozen=True)
class Header:
    """What the header says, before any pixel is decoded (width and height as displayed, EXIF applied)."""

    format: str | None
    width: int
    height: int
    mode: str
    frames: int
    rotated: bool

    @property
    def pixels(self) -> int:
        return self.width * self.height


def megapixels(pixels: int) -> str:
    """'169 MP', '12.5 MP': one decimal at most, none when it is a whole number."""
    return f"{round(pixels / 1_000_000, 1):g} MP"


def over_limit(width: int, height: int, limit: int) -> str | None:
    """Why an image is refused ('13000x13000 = 169 MP is over the 64 MP limit'), or None when it is within."""
    if width * height <= limit:
        return None
    return f"{width}x{height} = {megapixels(width * height)} is over the {megapixels(limit)} limit"


def open_image(path: Path) -> Image.Image:
    """`Image.open(path)`: the header only, nothing decoded; Pillow is imported on the first call."""
    from PIL import Image

    # Pillow's own guard (a warning above Image.MAX_IMAGE_PIXELS, DecompressionBombError above twice that)
    # runs inside Image.open, before anyone can read the size, and is process-wide. The limit that decides is
    # ours, checked from the header with the file's dimensions in the reason. Pillow's stays as a backstop,
    # raised to the highest limit the config allows: at its default (89 MP) it would warn about images within
    # a limit the operator chose and, above 179 MP, refuse to open a file before we could say how large it is.
    Image.MAX_IMAGE_PIXELS = HIGHEST_IMAGE_PIXELS
    return Image.open(path)


def _orientation(image: Image.Image) -> int:
    # Pillow's PNG getexif() decodes the whole image when the header has no eXIf chunk, looking for one
    # after the pixel data: a bomb would be decoded just to learn it is not turned. Only a header's is used.
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    return int(image.getexif().get(0x0112, 1))


def header_of(image: Image.Image, limit: int | None = None) -> Header:
    """An open image's header, read without decoding a pixel; OverPixelLimit past `limit` pixels."""
    w, h = image.size
    reason = None if limit is None else over_limit(w, h, limit)
    if reason is not None:
        raise OverPixelLimit(reason)
    orientation = _orientation(image)
    # EXIF orientations 5-8 swap the axes: the displayed width is the stored height.
    width, height = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    return Header(image.format, width, height, image.mode, getattr(image, "n_frames", 1), orientation != 1)


def read_header(path: Path, limit: int) -> Header:
    """The header of the image at `path`; OverPixelLimit when it has more than `limit` pixels.

    OSError, SyntaxError and ValueError mean the file is not an image Pillow can read.
    """
    from PIL import Image

    try:
        with open_image(path) as image:
            return header_of(image, limit)
    except Image.DecompressionBombError as exc:  # only past HIGHEST_IMAGE_PIXELS * 2
        raise OverPixelLimit(
            f"more than {megapixels(2 * HIGHEST_IMAGE_PIXELS)}, over the {megapixels(limit)} limit ({exc})"
        ) from None


def decoded_bytes(header: Header, resized: Iterable[tuple[int, int]] = ()) -> int:
    """About what decoding and preparing the image holds at its peak: the decoded original, a turned copy
    when EXIF turns it, the RGB(A) copy the encoders take (4 bytes a pixel), and the resized copies.

    An estimate of Pillow's pixel buffers, not of the process: the encoders' own working memory is small
    beside them at the widths a site serves.
    """
    if header.mode in _ONE_BYTE:
        source = 1
    elif header.mode.startswith("I;16"):
        source = 2
    else:
        source = 4
    per_pixel = source * (2 if header.rotated else 1) + 4
    return header.pixels * per_pixel + sum(4 * w * h for w, h in resized)


def _return_freed_memory() -> None:
    """Give the pixels just freed back to the system.

    glibc keeps freed memory in the arena of the thread that freed it (Pillow's 16 MB blocks come from the
    heap once one has been freed), so two threads decoding one image after the other still end up holding
    two images' worth of memory between them: the budget would bound the pixels alive, not the process.
    """
    heap.trim()


class DecodeBudget:
    """A semaphore weighted in bytes: `hold(n)` waits until n more bytes fit in the budget.

    One holder larger than the whole budget still runs, alone (it waits until nothing else is held), so
    a budget smaller than one image slows it down but never blocks it forever.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = 0
        self._holders = 0

    @property
    def held(self) -> int:
        with self._cond:
            return self._held

    @contextmanager
    def hold(self, size: int, budget: int) -> Iterator[int]:
        """Hold `size` bytes of `budget` for the block; yields the bytes held then, this holder's included."""
        with self._cond:
            self._cond.wait_for(lambda: self._holders == 0 or self._held + size <= budget)
            self._held += size
            self._holders += 1
            held = self._held
        try:
            yield held
        finally:
            _return_freed_memory()
            with self._cond:
                self._held -= size
                self._holders -= 1
                self._cond.notify_all()


# Memory is the process's, so the budget is too: every run and every encoding thread in this process (a
# server worker, the command line) draws from this one.
PROCESS_BUDGET = DecodeBudget()
