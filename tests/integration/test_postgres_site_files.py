"""Where file actions run, with replicas on one real PostgreSQL: a replica without the site's files (no site
root here) leaves the runs of playbooks that change them to a replica that has them, whichever replica the
alert reached; when no replica with the files takes a run within `database.lease_seconds`, it runs anyway,
its file actions skipped with the reason, so a run never waits for good."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..playbooks.conftest import alert, payload
from .browser import photo_jpeg
from .postgres import Postgres, postgres_server
from .stack import Server, exporter, http, wait_for

pytestmark = pytest.mark.integration
TOKEN = "site-files-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
LEASE = 3


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


def _site(root: Path) -> Path:
    (root / "img").mkdir(parents=True)
    (root / "img" / "hero.jpg").write_bytes(photo_jpeg(900, 600, seed=5))
    (root / "index.html").write_text('<html><body><img src="/img/hero.jpg"></body></html>')
    return root


def _config(site: Path | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "auth": {"tokens": [{"name": "am", "token": TOKEN, "scopes": ["webhook", "read"]}]},
        "database": {"lease_seconds": LEASE},
    }
    if site is not None:
        config["site_root"] = str(site)
    return config


def _finished(srv: Server, fingerprint: str) -> dict[str, Any] | None:
    status, listing = http("GET", f"{srv.url}/api/perf-fix/runs?playbook=optimize-images", BEARER)
    assert status == 200, listing
    for run in listing["runs"]:
        if run["alert"] and run["alert"]["fingerprint"] == fingerprint and run["state"] in ("succeeded", "failed"):
            status, detail = http("GET", f"{srv.url}/api/perf-fix/runs/{run['id']}", BEARER)
            assert status == 200
            return dict(detail)
    return None


def _ran(srv: Server) -> float:
    """The optimize-images dry runs this replica's workers executed (its own perfbudget_playbook_runs_total)."""
    _, text = http("GET", f"{srv.url}/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("perfbudget_playbook_runs_total{") and 'playbook="optimize-images"' in line)


def test_a_replica_without_the_site_leaves_file_runs_to_one_with_it(pg: Postgres, tmp_path: Path) -> None:
    url = pg.create_database("site_files")
    env = {"PERFBUDGET_DATABASE_URL": url}
    site = _site(tmp_path / "site")
    with exporter(tmp_path / "bare", workers=1, config=_config(None), env=env) as bare:
        with exporter(tmp_path / "with-site", workers=1, config=_config(site), env=env) as holder:
            for i in range(3):  # delivered to the replica without the files
                delivery = payload(alert(fingerprint=f"files{i:011d}", starts_at=f"2026-12-02T10:0{i}:00.000Z"))
                assert http("POST", f"{bare.url}/api/alertmanager", delivery, BEARER)[0] == 200
            for i in range(3):
                detail = wait_for(lambda i=i: _finished(bare, f"files{i:011d}"), 60, what=f"run {i}")
                images = detail["actions"][0]
                assert images["status"] == "previewed" and images["preview"]["bytesSaved"] > 0, images
            assert (_ran(holder), _ran(bare)) == (3, 0)
        # The replica with the files is gone: after a lease's length the bare one runs it, skipping the files.
        delivery = payload(alert(fingerprint="files99999999999", starts_at="2026-12-02T11:00:00.000Z"))
        assert http("POST", f"{bare.url}/api/alertmanager", delivery, BEARER)[0] == 200
        detail = wait_for(lambda: _finished(bare, "files99999999999"), 60, what="the run nobody else took")
        assert _ran(bare) == 1
        images = detail["actions"][0]
        assert images["status"] == "skipped" and "needs a site root" in str(images), images
