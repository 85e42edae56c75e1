"""Fixtures for the action kinds: a site directory, a context over it, and real images made with Pillow."""

from __future__ import annotations

import hashlib
import json
import random
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from perfbudget.config.model import Config
from perfbudget.playbooks.actions import ActionContext

MakeCtx = Callable[..., ActionContext]


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: smooth shapes under fine noise, so no encoder can cheat on flat areas."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(width // 10 + 1, width // 3 + 2)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    image = image.filter(ImageFilter.GaussianBlur(width / 80))
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 24 + 4 * i) for i in range(3)])
    return ImageChops.blend(image, noise, 0.18)


def flat(width: int, height: int) -> Image.Image:
    """A flat graphic (logo-like, few colours) with transparency."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 8, height // 8, width // 2, height // 2), fill=(200, 30, 30, 255))
    draw.ellipse((width // 3, height // 3, width - 4, height - 4), fill=(30, 90, 200, 255))
    return image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path: Path, width: int = 13000, height: int = 13000, noisy_rows: int = 100, valid: bool = True) -> Path:
    """A real 1-bit PNG decompression bomb: 13000 x 13000 pixels (169 MP) in about 180 KB.

    Written row by row through zlib, so making it takes ~0.05 s and no image in memory (Pillow would need
    all 169 MB of pixels to save it). The first `noisy_rows` rows are random so that the file is over the
    images action's min_bytes like a real upload; the rest are white. `valid=False` writes pixel data no
    decoder accepts: a header read succeeds, any decode fails, so a test can tell one from the other.
    """
    rng = random.Random(0)
    stride = (width + 7) // 8
    white = b"\0" * (1 + stride)
    packer = zlib.compressobj(9)
    if valid:
        rows = [packer.compress(b"\0" + rng.randbytes(stride) if y < noisy_rows else white) for y in range(height)]
        pixels = b"".join(rows) + packer.flush()
    else:
        pixels = rng.randbytes(1000)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale, no interlace
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b""))
    return path


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (hidden ones too) with its bytes: two equal trees are byte-identical."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    return root.resolve()


@pytest.fixture
def make_ctx(tmp_path: Path, site: Path) -> MakeCtx:
    """An ActionContext over `site`, with attribution, alert labels, a beacons section and actions settings."""

    def make(
        attribution: Mapping[str, Sequence[tuple[str, int]]] | None = None,
        alert_labels: Mapping[str, str] | None = None,
        progress: list[str] | None = None,
        run_id: str = "run-1",
        beacons: Mapping[str, Any] | None = None,
        **actions: Any,
    ) -> ActionContext:
        config = Config.model_validate(
            {"data_dir": str(tmp_path / "data"), "actions": actions, "beacons": dict(beacons or {})}
        )
        table = dict(attribution or {})
        lines = progress if progress is not None else []
        return ActionContext(
            run_id=run_id,
            config=config,
            allowed_dirs=(site,),
            run_dir=tmp_path / "data" / "runs" / run_id,
            alert_labels=dict(alert_labels or {}),
            attribution=lambda kind, route: table.get(kind, ()),
            progress=lines.append,
        )

    return make


class Recorder:
    """A real HTTP server on 127.0.0.1 (free port) that records every request and replays scripted answers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        # (status, json body, extra headers) per request, in order; then 200 {} for the rest.
        self.answers: list[tuple[int, Any, dict[str, str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                recorder.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "json": json.loads(raw) if raw else None,
                    }
                )
                status, body, headers = recorder.answers.pop(0) if recorder.answers else (200, {}, {})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            # http.server dispatches on these names.
            do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest's output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()
