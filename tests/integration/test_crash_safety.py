"""Crash safety: kill -9 the whole server (granian master and workers) in the middle of a playbook execute.

A site of photo-like JPEGs makes `optimize-images` take seconds; the server is killed once the run is
`running` and some WebP/AVIF files exist. After a restart on the same data directory the run is
`interrupted` (never silently re-run), every original is byte-identical, no final name holds a partial
file and no temporary file is left in the site, the audit log still has every run accepted before the
crash with its events, and `perfbudget playbooks rollback RUN_ID` removes everything the run wrote. Then a
webhook delivery is killed right after its 200: its runs are still in the log after the next restart.

The server runs in its own session so `os.killpg` reaches the master and every worker, and nothing else.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from ..actions.conftest import photo
from .stack import PERFBUDGET, free_port, http, wait_for, wait_http

pytestmark = pytest.mark.integration

TOKEN = "crash-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IMAGES = 40
OUTPUT_SUFFIXES = (".webp", ".avif")


@dataclass
class Setup:
    tmp: Path
    site: Path
    config: Path
    env: dict[str, str]
    originals: dict[str, str]  # relative path -> sha256, every file of the site before anything ran


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _site_files(site: Path) -> dict[str, str]:
    return {str(p.relative_to(site)): _digest(p) for p in sorted(site.rglob("*")) if p.is_file()}


def _outputs(site: Path) -> list[Path]:
    return [p for p in site.rglob("*") if p.suffix in OUTPUT_SUFFIXES and not p.name.startswith(".")]


def _temporaries(site: Path) -> list[Path]:
    return [p for p in site.rglob(".*") if p.is_file()]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    tmp = tmp_path_factory.mktemp("crash")
    site = tmp / "site"
    for sub in ("img/a", "img/b"):
        (site / sub).mkdir(parents=True)
    # Eight distinct photos saved at several JPEG qualities: forty different, noisy files over 100 kB.
    bases = [photo(1200, 800, seed) for seed in range(8)]
    for i in range(IMAGES):
        path = site / ("img/a" if i % 2 else "img/b") / f"photo-{i:02d}.jpg"
        bases[i % len(bases)].save(path, "JPEG", quality=90 + i % 6)
    (site / "index.html").write_text('<img src="/img/a/photo-01.jpg">\n')
    config = {
        "data_dir": str(tmp / "data"),
        "site_root": str(site),
        "auth": {"tokens": [{"name": "ci", "token": TOKEN}]},
        # answer_wait_seconds 0: the POST answers at once, so the execute is killed while it runs.
        "playbooks": {"execute": ["optimize-images"], "max_risk": "safe", "cooldown_seconds": 0,
                      "answer_wait_seconds": 0},
    }
    config_file = tmp / "perfbudget.yml"
    config_file.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PERFBUDGET_", "PROMETHEUS_"))}
    env.update(PERFBUDGET_RATE_LIMIT="off", PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"))
    return Setup(tmp, site.resolve(), config_file, env, _site_files(site))


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path


@contextmanager
def serve(setup: Setup, name: str) -> Iterator[Proc]:
    """`perfbudget serve` (granian, 2 workers) in its own session; SIGTERM at the end unless killed before."""
    port = free_port()
    log = setup.tmp / f"{name}.log"
    args = [*PERFBUDGET, "serve", "--config.file", str(setup.config), "--web.listen-address", f"127.0.0.1:{port}",
            "--workers", "2", "--server", "granian"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=setup.env, cwd=setup.tmp,
                                start_new_session=True)
    server = Proc(proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_http(f"{server.url}/-/ready", 60, proc)
        yield server
    except BaseException:
        print(log.read_text(errors="replace"), file=sys.stderr)
        raise
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_9(server: Proc) -> None:
    """SIGKILL to the master and every worker at once, then wait until the whole group is gone."""
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    wait_for(lambda: not _group_alive(server.proc.pid), 10, 0.05, "every server process gone")


def run_of(server: Proc, run_id: str) -> dict[str, Any]:
    status, body = http("GET", f"{server.url}/api/perf-fix/runs/{run_id}", headers=AUTH)  # whole: "read" scope
    assert status == 200, body
    return dict(body)


def _complete_image(path: Path) -> bool:
    try:
        with Image.open(io.BytesIO(path.read_bytes())) as image:
            image.load()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


@pytest.fixture(scope="module")
def crashed(setup: Setup) -> dict[str, Any]:
    """Runs accepted, an execute killed in the middle; what was seen at the moment of the kill."""
    with serve(setup, "before-crash") as server:
        status, dry = http("POST", f"{server.url}/api/perf-fix", {"playbookId": "layout-stability", "dryRun": True})
        assert status == 202, dry
        wait_for(lambda: run_of(server, dry["id"])["state"] == "succeeded", 20, what="the dry run finished")
        status, execute = http("POST", f"{server.url}/api/perf-fix",
                               {"playbookId": "optimize-images", "dryRun": False, "autoApprove": True}, AUTH)
        assert status == 202, execute
        wait_for(lambda: run_of(server, execute["id"])["state"] == "running", 20, 0.05, "the execute running")
        wait_for(lambda: len(_outputs(setup.site)) >= 4, 30, 0.02, "the first output files")
        kill_9(server)
    outputs = _outputs(setup.site)
    return {"dry": dry["id"], "execute": execute["id"], "outputs": outputs, "written": len(outputs),
            "temporaries": _temporaries(setup.site)}


def test_the_kill_landed_in_the_middle_of_the_execute(setup: Setup, crashed: dict[str, Any]) -> None:
    # Forty images make 240 variants; a kill after the first few leaves the run far from done.
    assert 4 <= crashed["written"] < IMAGES * 6


def test_every_original_is_byte_identical_after_the_crash(setup: Setup, crashed: dict[str, Any]) -> None:
    now = _site_files(setup.site)
    assert {name: now.get(name) for name in setup.originals} == setup.originals


def test_no_final_name_holds_a_partial_file(setup: Setup, crashed: dict[str, Any]) -> None:
    broken = [str(p) for p in crashed["outputs"] if not _complete_image(p)]
    assert broken == []


@pytest.fixture(scope="module")
def restarted(setup: Setup, crashed: dict[str, Any]) -> Iterator[Proc]:
    with serve(setup, "after-crash") as server:
        yield server


def test_after_the_restart_the_run_is_interrupted_and_never_rerun(
    setup: Setup, crashed: dict[str, Any], restarted: Proc
) -> None:
    run = run_of(restarted, crashed["execute"])
    assert run["state"] == "interrupted", run
    assert "it was not re-run" in run["message"]
    assert [e["event"] for e in run["events"]] == ["queued", "running", "interrupted"]
    written = {str(p) for p in _outputs(setup.site)}
    time.sleep(2.5)  # more than two polls of the runner's workers
    assert {str(p) for p in _outputs(setup.site)} == written
    assert run_of(restarted, crashed["execute"])["state"] == "interrupted"


def test_the_restart_removed_the_temporary_files_the_crash_left_in_the_site(
    setup: Setup, crashed: dict[str, Any], restarted: Proc
) -> None:
    assert _temporaries(setup.site) == []


def test_every_run_accepted_before_the_crash_is_in_the_audit_log_with_its_events(
    crashed: dict[str, Any], restarted: Proc
) -> None:
    dry = run_of(restarted, crashed["dry"])
    assert dry["state"] == "succeeded"
    assert [e["event"] for e in dry["events"]] == ["queued", "running", "succeeded"]
    status, listing = http("GET", f"{restarted.url}/api/perf-fix/runs")
    assert status == 200
    assert {crashed["dry"], crashed["execute"]} <= {r["id"] for r in listing["runs"]}
    execute = run_of(restarted, crashed["execute"])
    assert execute["trigger"]["token"] == "ci" and execute["mode"] == "execute"


def test_rollback_removes_everything_the_interrupted_run_wrote(
    setup: Setup, crashed: dict[str, Any], restarted: Proc
) -> None:
    assert _outputs(setup.site), "the interrupted run wrote files to roll back"
    done = subprocess.run([*PERFBUDGET, "playbooks", "rollback", "--config.file", str(setup.config),
                           crashed["execute"]], env=setup.env, cwd=setup.tmp, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert _site_files(setup.site) == setup.originals
    run = run_of(restarted, crashed["execute"])
    assert run["state"] == "rolled-back", run
    assert [e["event"] for e in run["events"]][-1] == "rolled-back"


def test_a_webhook_delivery_acknowledged_before_a_kill_survives_it(setup: Setup, restarted: Proc) -> None:
    body = {"version": "4", "status": "firing", "receiver": "perfbudget", "groupKey": "{}:{}", "alerts": [
        {"status": "firing", "labels": {"alertname": "WebVitalsBudgetExceeded", "metric": "CLS", "route": "/"},
         "startsAt": "2025-06-01T10:00:00.000Z", "fingerprint": "c1a55e"}]}
    # The module's second server is killed here; one more is started on the same data to read the log.
    status, answer = http("POST", f"{restarted.url}/api/alertmanager", body, AUTH)
    kill_9(restarted)
    assert status == 200, answer
    assert answer["runs"], answer
    with serve(setup, "after-webhook-crash") as server:
        for accepted in answer["runs"]:
            run = run_of(server, accepted["id"])
            assert run["playbookId"] == accepted["playbookId"]
            assert run["alert"]["fingerprint"] == "c1a55e"
            assert run["events"][0]["event"] == "queued"
        # A repeat of the delivery (Alertmanager retries what it is unsure of) finds the same runs.
        status, again = http("POST", f"{server.url}/api/alertmanager", body, AUTH)
        assert status == 200
        assert [r["id"] for r in again["runs"]] == [r["id"] for r in answer["runs"]]
        assert all(r["duplicate"] for r in again["runs"])


_CRASH_MID_WRITE = """
import os, sys
from pathlib import Path
from perfbudget.config.model import Config
from perfbudget.playbooks.actions import ActionContext, atomic

site, data = Path(sys.argv[1]), Path(sys.argv[2])
ctx = ActionContext(run_id="r1", config=Config.model_validate({"data_dir": str(data)}), allowed_dirs=(site,),
                    run_dir=data / "runs" / "r1", alert_labels={}, attribution=lambda k, r: (),
                    progress=lambda line: None)
manifest = atomic.new_manifest(ctx, "images")
manifest.create(site / "done.webp", b"complete")
os.link = lambda *args, **kwargs: os._exit(137)  # the kill lands after the temp is written, before its link
manifest.create(site / "cut.webp", b"x" * 100_000)
"""


def test_a_write_cut_between_its_temporary_file_and_its_final_name_is_cleaned_up(tmp_path: Path) -> None:
    """Deterministic twin of the kill above: the process dies at the worst point of an atomic write."""
    from perfbudget.config.model import Config
    from perfbudget.playbooks.actions import ActionContext, atomic

    site, data = tmp_path / "site", tmp_path / "data"
    site.mkdir()
    child = subprocess.run([sys.executable, "-c", _CRASH_MID_WRITE, str(site), str(data)], timeout=30)
    assert child.returncode == 137
    assert not (site / "cut.webp").exists()  # never a final name for an unfinished write
    assert len(_temporaries(site)) == 1
    ctx = ActionContext(run_id="r1", config=Config.model_validate({"data_dir": str(data)}), allowed_dirs=(site,),
                        run_dir=data / "runs" / "r1", alert_labels={}, attribution=lambda k, r: (),
                        progress=lambda line: None)
    left = _temporaries(site)
    assert atomic.discard_temporaries(ctx.run_dir) == left
    assert _temporaries(site) == []
    (manifest,) = atomic.journal_manifests(ctx.run_dir)
    outcome = atomic.rollback(ctx, manifest)
    assert outcome.errors == []
    assert sorted(os.listdir(site)) == []
    assert {c["action"] for c in outcome.changes} == {"removed", "already absent"}
