"""`perfbudget demo` as a new user runs it: the shop and the exporter start, one visit in Chromium fills the
console, and optimize-images' dry run (then its execute) works on the shop's copy with the printed token."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .browser import chromium
from .stack import PERFBUDGET, http, wait_for, wait_http

pytestmark = pytest.mark.integration
CHECKOUT = Path(__file__).resolve().parents[2]
TERMINAL = {"succeeded", "failed", "interrupted", "skipped", "rolled-back"}


@dataclass
class Demo:
    shop: str
    console: str
    token: str
    workdir: Path
    lines: list[str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PERFBUDGET_", "PROMETHEUS_"))}
    proc = subprocess.Popen([*PERFBUDGET, "demo", "--free-ports", "--dir", str(tmp / "work")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp,
                            start_new_session=True, text=True)
    lines: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    try:
        def printed() -> dict[str, str] | None:
            assert proc.poll() is None, "".join(lines)
            found = dict(re.findall(r"^\s+(shop|console|token):\s+(\S+)", "".join(lines), re.M))
            return found if len(found) == 3 else None

        found = wait_for(printed, 60, what="the demo's URLs and token")
        wait_http(f"{found['console']}-/ready", 60, proc)
        wait_http(found["shop"], 10, proc)
        yield Demo(found["shop"].rstrip("/"), found["console"].rstrip("/"), found["token"], tmp / "work", lines)
    except BaseException:
        print("".join(lines))
        raise
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the demo and its shop
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def _run(demo: Demo, run_id: str) -> dict[str, object]:
    def finished() -> dict[str, object] | None:
        _, run = http("GET", f"{demo.console}/api/perf-fix/runs/{run_id}",
                      headers={"Authorization": f"Bearer {demo.token}"})
        return run if run.get("state") in TERMINAL else None

    result: dict[str, object] = wait_for(finished, 120, what=f"run {run_id} to finish")
    return result


def test_a_visit_fills_the_console_and_the_dry_run_of_optimize_images_saves_bytes(demo: Demo) -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{demo.shop}/", wait_until="load")
        page.wait_for_function("document.querySelector('img.hero').complete")
        page.click("#add")
        page.wait_for_function("document.getElementById('status').textContent === 'added to cart'")
        page.wait_for_timeout(1000)
        page.goto("about:blank")  # hidden: web-vitals reports and beacon.js sends its batch (INP not relied on)
        page.close()

    def lcp_counted() -> bool:
        _, text = http("GET", f"{demo.console}/metrics")
        return bool(re.search(r'^perfbudget_lcp_seconds_count\{[^}]*route="/"[^}]*\} [1-9]', text, re.M))

    wait_for(lcp_counted, 30, what="the visit's LCP in /metrics")

    status, answer = http("POST", f"{demo.console}/api/perf-fix",
                          {"playbookId": "optimize-images", "dryRun": True, "autoApprove": False},
                          headers={"Authorization": f"Bearer {demo.token}", "Origin": demo.console})
    assert status in (200, 202), answer
    run_id = answer.get("id") or answer.get("runId")
    run = _run(demo, str(run_id))
    assert run["state"] == "succeeded", run
    saved = run["bytesSaved"]
    assert isinstance(saved, int) and saved > 0, run
    site = demo.workdir / "site"
    assert (site / "img" / "hero.jpg").is_file() and not list(site.glob("img/*.webp")), "a dry run writes nothing"

    _, console = http("GET", f"{demo.console}/")
    assert str(run_id) in console and "optimize-images" in console
    assert "saves" in console


def test_execute_with_the_printed_token_changes_the_copy_and_the_shop_serves_it(demo: Demo) -> None:
    status, answer = http("POST", f"{demo.console}/api/perf-fix",
                          {"playbookId": "optimize-images", "dryRun": False, "autoApprove": True},
                          headers={"Authorization": f"Bearer {demo.token}", "Origin": demo.console})
    assert status in (200, 202), answer
    run = _run(demo, str(answer.get("id") or answer.get("runId")))
    assert run["state"] == "succeeded", run
    assert (demo.workdir / "site" / "img" / "hero.jpg.webp").is_file()
    assert not list((CHECKOUT / "demo" / "site" / "img").glob("*.webp")), "the checkout is never changed"
    request = urllib.request.Request(f"{demo.shop}/img/hero.jpg", headers={"Accept": "image/webp,*/*"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"] == "image/webp"
