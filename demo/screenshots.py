"""The README's screenshots, from a real run of `perfbudget demo`: real Chromium, real beacons, a real dry run.

    .venv/bin/python demo/screenshots.py                 # writes docs/images/console.png and demo.png

It runs `perfbudget demo --free-ports` (the README's quick start) in a temporary directory (the checkout is
not touched), visits the demo shop's pages in Debian's Chromium (each view waits for the heavy hero, clicks
"Add to cart" and leaves, so web-vitals reports LCP, INP and CLS), asks the exporter for a dry run of the
images playbook, and saves the exporter's console and the demo page, 1280 px wide. Needs what the tests need
(scripts/install-test-deps): Chromium, Playwright, the web-vitals npm package.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic", "--hide-scrollbars"]
WIDTH = 1280
PAGES = ("/", "/products/42.html", "/products/7.html")


def _json(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"screenshots: {what} not within {timeout:.0f}s")


def _view(browser: Any, url: str) -> None:
    """One shopper: the hero loads, a click on "Add to cart", then leaving the page sends the beacons."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 800})
    page.goto(url, wait_until="load")
    page.wait_for_function("document.querySelector('img.hero').complete")
    page.wait_for_selector(".promo")
    page.click("#add")
    page.wait_for_timeout(1500)  # web-vitals reads event timing in an idle callback after the click
    page.goto("about:blank")
    page.close()


def _save(png: bytes, path: Path, colours: int) -> None:
    """A palette PNG: screenshots of flat UI need few colours; the demo's photo keeps more."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width == WIDTH, image.size
    image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {image.width}x{image.height}, "
          f"{path.stat().st_size:,} bytes", flush=True)


@contextmanager
def perfbudget_demo(workdir: Path, bandwidth: int) -> Iterator[tuple[str, str]]:
    """`perfbudget demo --free-ports` as the quick start runs it; yields the shop's and the console's URLs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PERFBUDGET_", "PROMETHEUS_"))}
    proc = subprocess.Popen([sys.executable, "-m", "perfbudget", "demo", "--free-ports", "--dir", str(workdir),
                             "--bandwidth", str(bandwidth)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, text=True, start_new_session=True)
    lines: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True).start()
    try:
        def printed() -> dict[str, str] | None:
            if proc.poll() is not None:
                raise SystemExit("screenshots: perfbudget demo exited:\n" + "".join(lines))
            found = dict(re.findall(r"^\s+(shop|console):\s+(\S+)", "".join(lines), re.M))
            return found if len(found) == 2 else None

        found = _wait(printed, 60, "perfbudget demo's URLs")
        print("".join(lines), end="", flush=True)
        console = found["console"].rstrip("/")
        def ready() -> bool:
            try:
                return _json("GET", f"{console}/-/ready").get("ready") is True
            except OSError:  # not listening yet, or 503 while a worker starts (HTTPError is an OSError)
                return False

        _wait(ready, 60, "the exporter's /-/ready")
        yield found["shop"].rstrip("/"), console
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _lcp_samples(exporter: str) -> int:
    vitals = _json("GET", f"{exporter}/api/web-vitals?window=1h")["vitals"]
    return next((int(v.get("samples") or 0) for v in vitals if v["name"] == "LCP"), 0)


def take(shop: str, exporter: str, output: Path, views: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for n in range(views):
                path = PAGES[n % len(PAGES)]
                print(f"  page view {n + 1}/{views}: {path}", flush=True)
                _view(browser, f"{shop}{path}")
            _wait(lambda: _lcp_samples(exporter) >= views,
                  30, "every page view's LCP at the exporter")
            run = _json("POST", f"{exporter}/api/perf-fix", {"playbookId": "optimize-images", "dryRun": True})
            run_id = run.get("id") or run.get("run", {}).get("id")
            done = _wait(lambda: _json("GET", f"{exporter}/api/perf-fix/runs/{run_id}")["state"]
                         in ("succeeded", "failed"), 120, "the dry run")
            assert done
            print(f"  dry run {run_id}: {_json('GET', f'{exporter}/api/perf-fix/runs/{run_id}')['message']}")

            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.goto(f"{exporter}/", wait_until="load")
            _save(page.screenshot(full_page=True), output / "console.png", 64)
            page.close()

            page = browser.new_page(viewport={"width": WIDTH, "height": 800})
            page.goto(f"{shop}/products/42.html", wait_until="load")
            page.wait_for_function("document.querySelector('img.hero').complete")
            page.wait_for_selector(".promo")
            page.click("#add")
            page.wait_for_function("document.getElementById('status').textContent === 'added to cart'")
            page.evaluate("window.scrollTo(0, 0)")  # the click scrolled the button into view
            _save(page.screenshot(full_page=True), output / "demo.png", 96)
            page.goto("about:blank")
            page.close()
        finally:
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--views", type=int, default=6, help="page views before the screenshots")
    parser.add_argument("--bandwidth", type=int, default=500_000, help="demo images' bytes per second")
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="perfbudget-screenshots-") as tmp, \
            perfbudget_demo(Path(tmp) / "demo", args.bandwidth) as (shop, exporter):
        take(shop, exporter, args.output_dir.resolve(), args.views)
    return 0


if __name__ == "__main__":
    sys.exit(main())
