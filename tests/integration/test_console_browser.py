"""The console in a real Chromium: a playbook's dry-run preview is shown, and Execute works with the API
token and is refused without it, all under the console's Content-Security-Policy (its script and style are
files; Chromium reports no violation)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser import chromium, photo_jpeg
from .stack import Server, beacon, exporter, http

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


def test_the_console_refreshes_in_place_and_a_run_started_elsewhere_reaches_its_final_state(
    tmp_path: Path,
) -> None:
    """No site root: the page says which playbooks need one before any click; beacons and a run started
    outside the page (as an alert's is) appear without a reload, the token typed stays, and the favicon is
    ours, all without a CSP violation."""
    config = {"server": {"console_refresh_seconds": 1, "read_cache_seconds": 0}}
    with exporter(tmp_path, config=config, env={"PERFBUDGET_API_TOKEN": TOKEN}) as srv, chromium() as browser:
        page = browser.new_page()
        messages: list[str] = []
        icons: list[tuple[str, int]] = []
        page.on("console", lambda message: messages.append(message.text))
        page.on("response", lambda r: icons.append((r.url, r.status)) if "favicon" in r.url else None)
        page.goto(f"{srv.url}/")
        note = page.inner_text("#site-root-note")
        assert "optimize-images (convert-modern-formats)" in note and "needs a site root" in note, note
        page.evaluate("window.notReloaded = true")
        page.fill("#token", TOKEN)
        page.press("#token", "Enter")  # the form is never submitted: the token stays in the page

        batch = [beacon("LCP", 2100, f"refresh-{i}", page="http://shop.test/basket") for i in range(3)]
        assert http("POST", f"{srv.url}/api/web-vitals", batch)[0] == 200
        page.wait_for_selector("#live-routes code:text('/basket')", timeout=20_000)
        status, started = http("POST", f"{srv.url}/api/perf-fix", {"playbookId": "optimize-images", "dryRun": True})
        assert status in (200, 202), started
        run_id = started.get("id") or started.get("runId")
        page.wait_for_selector(f"#run-{run_id}[data-state=succeeded][open]", timeout=30_000)
        text = page.inner_text(f"#run-{run_id}")
        assert "skipped" in text and "failed" not in text and " UTC" in text, text
        assert page.evaluate("window.notReloaded") is True
        assert page.input_value("#token") == TOKEN and page.url == f"{srv.url}/"
        assert "updated" in page.inner_text("#refreshed")
    assert any(url.endswith("/favicon.svg") and code == 200 for url, code in icons), icons
    assert not [m for m in messages if "Content Security Policy" in m or "Refused" in m], messages


def test_an_lcp_over_its_budget_reads_over_budget_in_red_though_google_rates_it_good(tmp_path: Path) -> None:
    """The issue's example: an LCP budget of 1750 ms and 40 page views at about 2100 ms. The row turns from
    "no data" to "over budget" in place, red, before Google's "good"; the budgets-met line follows."""
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("vitals:\n  - metric: LCP\n    name: lcp-site\n    target: 1750\n    severity: critical\n")
    config = {"budgets_file": str(budgets), "server": {"console_refresh_seconds": 1, "read_cache_seconds": 0}}
    with exporter(tmp_path, config=config) as srv, chromium() as browser:
        page = browser.new_page()
        messages: list[str] = []
        page.on("console", lambda message: messages.append(message.text))
        page.goto(f"{srv.url}/")
        verdict = "#live-vitals tr:has(b:text-is('LCP')) .verdict"
        assert page.inner_text(verdict) == "no data"
        batch = [beacon("LCP", 2090 + i % 20, f"over-{i}", page="http://shop.test/cart") for i in range(40)]
        for start in range(0, 40, 10):
            assert http("POST", f"{srv.url}/api/web-vitals", batch[start:start + 10])[0] == 200
        page.wait_for_selector(f"{verdict}:text('over budget')", timeout=20_000)
        row = page.inner_text("#live-vitals tr:has(b:text-is('LCP'))")
        assert row.index("over budget") < row.index("good"), row
        colour = page.eval_on_selector(verdict, "element => getComputedStyle(element).backgroundColor")
        assert colour == "rgb(197, 34, 31)", colour  # --poor
        assert page.inner_text("#budgets-met") == "budgets met: 0 of 1"
        assert "over the lcp-site budget" in page.inner_text("#live-vitals")
    assert not [m for m in messages if "Content Security Policy" in m or "Refused" in m], messages
