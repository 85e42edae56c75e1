"""The demo shop: static files from the bundled demo site, standard library only, so it runs in any Python.

    python -m perfbudget.demoshop --listen 127.0.0.1:8080 --exporter-url http://127.0.0.1:9478
    python demo/serve.py ...          (the same, from a checkout)

- `__PERFBUDGET_URL__` in its pages becomes the exporter's public URL (where a browser reaches the exporter).
- Images are sent at a mobile-like bandwidth (`--bandwidth`, bytes per second), so a heavy image costs LCP
  as it would on a phone, even on 127.0.0.1.
- Like a CDN or nginx's `try_files $uri.webp`, a request for `hero.jpg` from a browser that accepts AVIF or
  WebP gets `hero.jpg.avif` or `hero.jpg.webp` when such a file sits beside it: once the images playbook has written
  them, the same page gets lighter with no change to its HTML.

The site's files are `demo/site` in a checkout and `perfbudget/bundled/demo_site` in the wheel
(pyproject.toml's force-include); `site_directory()` finds them. This module imports nothing of perfbudget,
so docker-compose's demo container runs it with the package mounted and nothing installed.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import signal
import time
from collections.abc import Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import BinaryIO

PLACEHOLDER = b"__PERFBUDGET_URL__"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif"}
MODERN = ((".avif", "image/avif"), (".webp", "image/webp"))
#: A slow 4G link, in bytes per second: the 1.5 MB hero takes about 3 s.
DEFAULT_BANDWIDTH = 500_000


def site_directory() -> Path:
    """The bundled demo site: inside the installed wheel, else `demo/site` beside `exporter/` in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "bundled" / "demo_site"
    if (packaged / "index.html").is_file():
        return packaged
    return here.parents[1] / "demo" / "site"


class DemoHandler(SimpleHTTPRequestHandler):
    exporter_url = b"http://127.0.0.1:9478"
    bandwidth = 0  # bytes per second for images; 0 = unthrottled

    def send_head(self) -> BinaryIO | None:
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix == ".html" and path.is_file():
            body = path.read_bytes().replace(PLACEHOLDER, self.exporter_url)
            return self._send(body, "text/html; charset=utf-8")
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            accept = self.headers.get("Accept", "")
            for suffix, mime in MODERN:
                modern = path.with_name(path.name + suffix)  # the images playbook writes hero.jpg.webp
                if mime in accept and modern.is_file():
                    return self._send(modern.read_bytes(), mime, vary=True)
            return self._send(path.read_bytes(), self.guess_type(str(path)), vary=True)
        return super().send_head()

    def _send(self, body: bytes, content_type: str, vary: bool = False) -> BinaryIO:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if vary:
            self.send_header("Vary", "Accept")
        self.end_headers()
        return io.BytesIO(body)

    def copyfile(self, source: BinaryIO, outputfile: BinaryIO) -> None:  # type: ignore[override]
        if not self.bandwidth or not self.path.lower().split("?")[0].endswith(tuple(IMAGE_SUFFIXES)):
            super().copyfile(source, outputfile)
            return
        chunk = max(1024, self.bandwidth // 20)
        while data := source.read(chunk):
            outputfile.write(data)
            time.sleep(len(data) / self.bandwidth)

    def log_message(self, format: str, *args: object) -> None:
        pass


def make_server(listen: str, root: Path, exporter_url: str, bandwidth: int) -> ThreadingHTTPServer:
    """The shop's server, bound (OSError when the address is taken), not yet serving."""
    host, _, port = listen.rpartition(":")
    handler = type("Handler", (DemoHandler,), {"exporter_url": exporter_url.rstrip("/").encode(),
                                               "bandwidth": bandwidth})
    return ThreadingHTTPServer((host.strip("[]") or "0.0.0.0", int(port)),
                               functools.partial(handler, directory=str(root)))


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM (docker stop, local-stack, perfbudget demo) ends serve_forever like Ctrl-C


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="perfbudget's demo shop")
    parser.add_argument("--listen", default=os.environ.get("DEMO_LISTEN", "127.0.0.1:8080"), metavar="HOST:PORT")
    parser.add_argument("--exporter-url", default=os.environ.get("PERFBUDGET_PUBLIC_URL", "http://127.0.0.1:9478"))
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("DEMO_ROOT") or site_directory()))
    parser.add_argument("--bandwidth", type=int, default=int(os.environ.get("DEMO_BANDWIDTH", DEFAULT_BANDWIDTH)),
                        help=f"bytes per second for images (default {DEFAULT_BANDWIDTH}, a slow 4G link); "
                             "0 = unthrottled")
    args = parser.parse_args(argv)
    server = make_server(args.listen, args.root, args.exporter_url, args.bandwidth)
    print(f"demo site on http://{args.listen}/ (exporter {args.exporter_url}, images at {args.bandwidth} B/s)",
          flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
