"""The js-audit kind: compressed sizes against a budget, and the scripts INP blames."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import brotli

from perfbudget.playbooks.actions import KINDS
from perfbudget.playbooks.actions.js_audit import JsAuditParams

from .conftest import MakeCtx, tree

KIND = KINDS["js-audit"]


def script(rng: random.Random, n: int) -> bytes:
    words = ["function", "return", "const", "let", "=>", "{", "}", "(", ")", "await", "fetch", "render"]
    return " ".join(rng.choice(words) + str(rng.randrange(1000)) for _ in range(n)).encode()


def test_sizes_are_real_and_the_budget_is_checked(site: Path, make_ctx: MakeCtx) -> None:
    rng = random.Random(1)
    (site / "js").mkdir()
    app, vendor = script(rng, 3000), script(rng, 9000)
    (site / "js" / "app.js").write_bytes(app)
    (site / "js" / "vendor.js").write_bytes(vendor)
    ctx = make_ctx(attribution={"inp.script": [("https://shop.example/js/vendor.js", 31), ("chrome-ext://x", 2)]})
    before = tree(site)
    outcome = KIND.apply(ctx, JsAuditParams(budget_bytes=10_000))
    assert tree(site) == before
    assert [c["path"] for c in outcome.changes] == ["js/vendor.js", "js/app.js"]
    vendor_row = outcome.changes[0]
    assert vendor_row["raw"] == len(vendor)
    assert vendor_row["gzip"] == len(gzip.compress(vendor, 9, mtime=0))
    assert vendor_row["brotli"] == len(brotli.compress(vendor, quality=11))
    assert outcome.details["totals"]["brotli"] == sum(c["brotli"] for c in outcome.changes)
    assert outcome.details["overBudget"] is True
    assert outcome.details["inpScripts"][0]["path"] == "js/vendor.js"
    assert outcome.details["inpScripts"][0]["reports"] == 31
    assert outcome.details["inpScripts"][1]["path"] is None
    assert outcome.summary.startswith("audit only, nothing changed:")
    assert outcome.manifest is None


def test_under_budget(site: Path, make_ctx: MakeCtx) -> None:
    (site / "a.js").write_bytes(b"console.log(1)")
    outcome = KIND.preview(make_ctx(), JsAuditParams(budget_bytes=1000, compression="raw"))
    assert outcome.details["overBudget"] is False
    assert "986 bytes under" in outcome.summary


def test_an_inp_script_url_that_names_no_possible_file_is_reported_without_a_path(
    site: Path, make_ctx: MakeCtx
) -> None:
    (site / "a.js").write_bytes(b"console.log(1)")
    ctx = make_ctx(attribution={"inp.script": [("https://x.example/%00.js", 5)]})
    outcome = KIND.preview(ctx, JsAuditParams())
    assert outcome.details["inpScripts"] == [{"script": "https://x.example/%00.js", "reports": 5, "path": None}]
