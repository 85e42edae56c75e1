"""The cache-headers kind: the policy's pattern checked against the files actually present."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from perfbudget.playbooks.actions import KINDS
from perfbudget.playbooks.actions.cache_headers import CacheHeadersParams, fingerprint

from .conftest import MakeCtx

KIND = KINDS["cache-headers"]


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("app.3f9a1c2e.js", "3f9a1c2e"),
        ("vendor.9f8e7d6c5b4a.js", "9f8e7d6c5b4a"),
        ("index-BXa3c_9f.css", "BXa3c_9f"),
        ("OpenSans-SemiBold.ttf", None),
        ("roboto-v30-latin-regular.woff2", None),
        ("jquery-3.7.1.min.js", None),
        ("main.abcdefab.js", None),
        ("logo.png", None),
    ],
)
def test_fingerprints_are_recognised_and_words_are_not(name: str, token: str | None) -> None:
    assert fingerprint(name) == token


def make_assets(site: Path, *names: str) -> None:
    for name in names:
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)


def test_the_pattern_matches_exactly_the_fingerprinted_files(site: Path, make_ctx: MakeCtx) -> None:
    make_assets(site, "assets/app.3f9a1c2e.js", "assets/app.0b1c2d3e.css", "fonts/OpenSans-SemiBold.ttf", "logo.png")
    outcome = KIND.preview(make_ctx(), CacheHeadersParams())
    pattern = re.compile(outcome.details["pattern"], re.IGNORECASE)
    assert outcome.details["pattern"] == r"[.-][0-9a-f]{8}\.(css|js)$"
    for change in outcome.changes:
        assert bool(pattern.search(Path(change["path"]).name)) == (change["hash"] is not None)
    assert outcome.details["frozenWrongly"] == [] and outcome.details["missed"] == []
    nginx = outcome.details["snippets"]["nginx.conf"]
    assert '"~*[.-][0-9a-f]{8}\\.(css|js)$" "public, max-age=31536000, immutable";' in nginx
    assert "path_regexp `[.-][0-9a-f]{8}\\.(css|js)$`" in outcome.details["snippets"]["Caddyfile"]
    assert '<FilesMatch "[.-][0-9a-f]{8}\\.(css|js)$">' in outcome.details["snippets"]["apache.conf"]


def test_apply_writes_the_three_snippets_once_and_rollback_removes_them(site: Path, make_ctx: MakeCtx) -> None:
    make_assets(site, "app.3f9a1c2e.js", "index.html")
    ctx = make_ctx()
    first = KIND.apply(ctx, CacheHeadersParams())
    written = sorted(p.name for p in (ctx.run_dir / "cache-headers").iterdir())
    assert written == ["Caddyfile", "apache.conf", "nginx.conf"]
    assert KIND.apply(ctx, CacheHeadersParams()).manifest is None
    assert first.manifest is not None
    KIND.rollback(ctx, first.manifest)
    assert not any((ctx.run_dir / "cache-headers").iterdir())


def test_a_pattern_that_would_freeze_an_unhashed_file_is_not_written(site: Path, make_ctx: MakeCtx) -> None:
    make_assets(site, "app.3f9a1c2e.js", "main.abcdefab.js")
    ctx = make_ctx()
    outcome = KIND.apply(ctx, CacheHeadersParams())
    assert outcome.details["frozenWrongly"] == ["main.abcdefab.js"]
    assert outcome.summary.startswith("nothing written")
    assert outcome.manifest is None and not ctx.run_dir.exists()


def test_no_fingerprinted_assets_means_no_long_cache(site: Path, make_ctx: MakeCtx) -> None:
    make_assets(site, "app.js", "style.css")
    outcome = KIND.apply(make_ctx(), CacheHeadersParams())
    assert "no fingerprinted assets" in outcome.summary and outcome.manifest is None
