"""Recovery after a crash (interrupted, never re-run) and rollback of an execute."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask

from perfbudget.config import Config
from perfbudget.playbooks import build_runner, load_playbooks
from perfbudget.playbooks.store import Store, audit_path, recover_interrupted

from .conftest import EchoKind, runner_of, wait_run


def test_after_a_crash_running_runs_are_interrupted_and_queued_runs_still_run(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path, pb_app: Callable[..., Flask]
) -> None:
    config = make_config(playbooks={"directory": str(book_dir)})
    books = load_playbooks(config)
    dead = build_runner(config, books)  # never started: a process that will "crash"
    crashed = dead.submit_manual("test-images", execute=False, auto_approve=False, trigger={"type": "manual"})
    waiting = dead.submit_manual("test-images", execute=False, auto_approve=False, trigger={"type": "manual"})
    claimed = dead.store.claim("999999999:gone", 5)  # a worker of a process that no longer exists
    assert claimed is not None and claimed.id == crashed.id

    recovered = recover_interrupted(config)
    assert [r.id for r in recovered] == [crashed.id]
    store = Store(audit_path(config))
    run = store.get(crashed.id, events=True)
    assert run is not None and run.state == "interrupted"
    assert run.message.startswith("interrupted: the process running it (999999999:gone) ended before it finished")
    assert [e["event"] for e in run.events] == ["queued", "running", "interrupted"]
    assert store.get(waiting.id).state == "queued"  # type: ignore[union-attr]

    # The restarted server takes the queued run; the interrupted one is never re-run.
    app = pb_app()
    assert wait_run(runner_of(app), waiting.id).state == "succeeded"
    assert crashed.id not in {c[1] for c in echo.calls}



def test_rollback_undoes_the_applied_actions_newest_first(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path
) -> None:
    config = make_config(playbooks={"directory": str(book_dir), "execute": ["test-images"], "max_risk": "moderate"})
    runner = build_runner(config, load_playbooks(config))
    run = runner.submit_manual("test-images", execute=True, auto_approve=True, trigger={"type": "cli"})
    lines: list[str] = []
    done = runner.run_now(run.id, lines.append)
    files = [a.manifest["file"] for a in done.result.actions if a.status == "applied" and a.manifest]
    assert len(files) == 2 and all(Path(f).exists() for f in files)
    assert lines[0] == "test-images: [1/3] safe-step: applying"
    back = runner.rollback(run.id)
    assert back.state == "rolled-back" and back.message == "rolled back 2 action(s)"
    assert not any(Path(f).exists() for f in files)
    assert [c[2] for c in echo.calls if c[0] == "rollback"] == files[::-1]
