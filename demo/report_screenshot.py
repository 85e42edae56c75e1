"""The README's screenshot of `perfbudget report --format html`, from a real run: `perfbudget demo`, real
Chromium page views of the demo shop spread over several of the report's steps (so its charts have points to
join), a real dry run of the images playbook, then the report of the last hour rendered and saved.

    .venv/bin/python demo/report_screenshot.py            # writes docs/images/report.png

Needs what the tests need (scripts/install-test-deps): Chromium, Playwright, the web-vitals npm package.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from screenshots import CHROMIUM, CHROMIUM_ARGS, PAGES, ROOT, WIDTH

STEP = 300  # the series step of a one-hour report


def _view(browser: Any, url: str) -> None:
    """One shopper: the hero loads, a click on "Add to cart", then leaving the page sends the beacons."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 800})
    page.goto(url, wait_until="load")
    page.wait_for_function("document.querySelector('img.hero').complete")
    page.click("#add")
    page.wait_for_timeout(1500)  # web-vitals reads event timing in an idle callback after the click
    page.goto("about:blank")
    page.close()


@contextmanager
def perfbudget_demo(workdir: Path, bandwidth: int) -> Iterator[tuple[str, str]]:
    """`perfbudget demo --free-ports` as the quick start runs it; yields the shop's and the console's URLs once
    the exporter is ready (it prints them before it listens)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PERFBUDGET_", "PROMETHEUS_"))}
    log = (workdir.parent / "demo.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "perfbudget", "demo", "--free-ports", "--dir", str(workdir),
                             "--bandwidth", str(bandwidth)], stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit("report_screenshot: perfbudget demo exited:\n" + Path(log.name).read_text())
            found = dict(re.findall(r"^\s+(shop|console):\s+(\S+)", Path(log.name).read_text(), re.M))
            if len(found) == 2:
                try:
                    _json("GET", f"{found['console'].rstrip('/')}/-/ready")
                    yield found["shop"].rstrip("/"), found["console"].rstrip("/")
                    return
                except OSError:
                    pass  # not listening yet
            time.sleep(0.5)
        raise SystemExit("report_screenshot: perfbudget demo was not ready within 90 s")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _json(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _dry_run(exporter: str, playbook: str) -> None:
    """POST /api/perf-fix {dryRun: true}, as the console's Dry run button does, and wait for its end."""
    run_id = _json("POST", f"{exporter}/api/perf-fix", {"playbookId": playbook, "dryRun": True})["id"]
    for _ in range(240):
        run = _json("GET", f"{exporter}/api/perf-fix/runs/{run_id}")
        if run["state"] in ("succeeded", "failed"):
            print(f"  dry run {run_id}: {run['message']}", flush=True)
            return
        time.sleep(0.5)
    raise SystemExit(f"report_screenshot: the dry run {run_id} did not end within 2 minutes")


def _report(exporter: str, fmt: str, output: Path) -> None:
    subprocess.run([sys.executable, "-m", "perfbudget", "report", "--range", "1h", "--source", exporter,
                    "--format", fmt, "--output", str(output)], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images" / "report.png")
    parser.add_argument("--steps", type=int, default=4, help="report steps (5 minutes each) with page views")
    parser.add_argument("--views", type=int, default=4, help="page views per step")
    parser.add_argument("--bandwidth", type=int, default=500_000, help="demo images' bytes per second")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="perfbudget-report-") as tmp, \
            perfbudget_demo(Path(tmp) / "demo", args.bandwidth) as (shop, exporter), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for step in range(args.steps):
            started = time.monotonic()
            for n in range(args.views):
                path = PAGES[(step + n) % len(PAGES)]
                print(f"  step {step + 1}/{args.steps}, page view {n + 1}/{args.views}: {path}", flush=True)
                _view(browser, f"{shop}{path}")
            if step == args.steps // 2:
                _dry_run(exporter, "optimize-images")
            if step < args.steps - 1:
                time.sleep(max(0.0, STEP - (time.monotonic() - started)))
        page_file = Path(tmp) / "report.html"
        _report(exporter, "html", page_file)
        _report(exporter, "json", args.output.with_suffix(".json"))
        page = browser.new_page(viewport={"width": WIDTH, "height": 900})
        page.goto(page_file.as_uri(), wait_until="load")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.output), full_page=True)
        browser.close()
    print(f"  {args.output}: {args.output.stat().st_size:,} bytes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
