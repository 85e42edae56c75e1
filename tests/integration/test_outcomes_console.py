"""The console's Fix outcomes part in a real Chromium: empty at first, then, after an Execute clicked on the
page, the playbook's outcomes in words, refreshed in place with the runs and under the console's CSP."""

from __future__ import annotations

from pathlib import Path

import pytest

from .browser import chromium, photo_jpeg
from .stack import exporter

pytestmark = pytest.mark.integration
TOKEN = "outcomes-console-token-0123456789"


def test_the_console_shows_the_outcomes_of_an_execute_clicked_on_the_page(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "img").mkdir(parents=True)
    (site / "img" / "hero.jpg").write_bytes(photo_jpeg(1600, 1000))
    config = {"site_root": str(site), "server": {"console_refresh_seconds": 1, "read_cache_seconds": 0},
              "playbooks": {"execute": ["optimize-images"], "max_risk": "safe"}}
    with exporter(tmp_path, config=config, env={"PERFBUDGET_API_TOKEN": TOKEN}) as srv, chromium() as browser:
        page = browser.new_page()
        messages: list[str] = []
        page.on("console", lambda message: messages.append(message.text))
        page.goto(f"{srv.url}/")
        assert "No playbook has run yet." in page.inner_text("#outcomes")
        page.evaluate("window.notReloaded = true")
        page.fill("#token", TOKEN)
        page.click('#playbooks tr:has(button[data-playbook="optimize-images"]) button:text("Execute")')
        row = '#outcomes tr.outcome[data-playbook="optimize-images"]'
        page.wait_for_selector(row, timeout=120_000)  # while the run is queued or running: no execution yet
        page.wait_for_selector(f"{row}:has-text('1 run, 1 execution')", timeout=120_000)
        figures = page.inner_text(row)
        assert "1 run, 1 execution" in figures and "0 % (0 of 1)" in figures, figures
        words = page.inner_text("#outcomes tr.outcome-words")
        # no page loads since the execute: its verdict waits for data, its real savings are said
        assert words.startswith("1 run, 1 execution; 0 improved past its budget (0 % success); 1 waiting for data")
        assert "saved." in words and "not enough data (0 of 50 page loads)" in words, words
        assert page.evaluate("window.notReloaded") is True  # swapped in place, not reloaded
    assert not [m for m in messages if "Content Security Policy" in m or "Refused" in m], messages
