"""The demo site: static files from demo/site, with __PERFBUDGET_URL__ in its pages replaced by the exporter's
public URL (the address a browser reaches the exporter at). Standard library only, so it runs in any Python.

    python demo/serve.py --listen 127.0.0.1:8080 --exporter-url http://127.0.0.1:9478
"""

from __future__ import annotations

import argparse
import functools
import os
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PLACEHOLDER = b"__PERFBUDGET_URL__"


class DemoHandler(SimpleHTTPRequestHandler):
    exporter_url = b"http://127.0.0.1:9478"

    def send_head(self):  # type: ignore[no-untyped-def]
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        body = path.read_bytes().replace(PLACEHOLDER, self.exporter_url)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        from io import BytesIO

        return BytesIO(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description="perfbudget's demo site")
    parser.add_argument("--listen", default=os.environ.get("DEMO_LISTEN", "127.0.0.1:8080"), metavar="HOST:PORT")
    parser.add_argument("--exporter-url", default=os.environ.get("PERFBUDGET_PUBLIC_URL", "http://127.0.0.1:9478"))
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("DEMO_ROOT", Path(__file__).parent / "site")))
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    DemoHandler.exporter_url = args.exporter_url.rstrip("/").encode()
    handler = functools.partial(DemoHandler, directory=str(args.root))
    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), handler)
    print(f"demo site on http://{args.listen}/ (exporter {args.exporter_url})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
