"""The console in a real Chromium: a playbook's dry-run preview is shown, and Execute works with the API
token and is refused without it, all under the console's Content-Security-Policy (its script and style are
files; Chromium reports no violation)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser import chromium, photo_jpeg
from .stack import Server, exporter, http

pytestmark = pytest.mark.integration
TOKEN = "console-test-token-0123456789"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    tmp = tmp_path_factory.mktemp("console")
    site = tmp / "site"
    (site / "img").mkdir(parents=True)
    (site / "img" / "hero.jpg").write_bytes(photo_jpeg(1600, 1000))
    config = {"site_root": str(site), "playbooks": {"execute": ["optimize-images"], "max_risk": "safe"}}
    with exporter(tmp, config=config, env={"PERFBUDGET_API_TOKEN": TOKEN}) as srv:
        yield srv, site


def _click(page: object, playbook: str, label: str) -> None:
    page.click(f'#playbooks tr:has(button[data-playbook="{playbook}"]) button:text("{label}")')  # type: ignore[attr-defined]


def test_the_console_shows_a_dry_run_preview_and_executes_only_with_the_token(
    console: tuple[Server, Path],
) -> None:
    srv, site = console
    original = (site / "img" / "hero.jpg").read_bytes()
    with chromium() as browser:
        page = browser.new_page()
        messages: list[str] = []
        page.on("console", lambda message: messages.append(message.text))
        page.goto(f"{srv.url}/")
        assert page.evaluate("getComputedStyle(document.body).margin") == "0px", "console.css was not applied"
        _click(page, "optimize-images", "Dry run")
        page.wait_for_selector("details.run[open] >> text=dry-run", timeout=60_000)
        preview = page.inner_text("details.run[open]")
        assert "convert-modern-formats" in preview and "img/hero.jpg" in preview, preview
        assert "saves" in preview and "succeeded" in preview, preview
        assert not list(site.glob("img/*.webp")), "a dry run must not write"

        _click(page, "optimize-images", "Execute")  # no token typed
        page.wait_for_selector("#status >> text=refused (401)", timeout=10_000)
        _, runs = http("GET", f"{srv.url}/api/perf-fix/runs")
        assert [run["mode"] for run in runs["runs"]] == ["dry-run"]

        page.fill("#token", TOKEN)
        _click(page, "optimize-images", "Execute")
        page.wait_for_selector("details.run[open] >> text=execute", timeout=120_000)
        executed = page.inner_text("details.run[open]")
        assert "succeeded" in executed, executed
    assert not [m for m in messages if "Content Security Policy" in m or "Refused" in m], messages
    assert (site / "img" / "hero.jpg").read_bytes() == original
    assert (site / "img" / "hero.jpg.webp").is_file()
    _, runs = http("GET", f"{srv.url}/api/perf-fix/runs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert [run["mode"] for run in runs["runs"]] == ["execute", "dry-run"]
    assert runs["runs"][0]["trigger"]["token"] == "env"  # a token with the read scope sees who ran it
