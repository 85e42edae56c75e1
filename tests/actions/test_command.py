"""The command kind: allowlisted argv only, no shell, a timeout."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from perfbudget.playbooks.actions import KINDS, ActionError, PathRefused
from perfbudget.playbooks.actions.command import CommandParams

from .conftest import MakeCtx

KIND = KINDS["command"]
PY = {"py": [sys.executable, "-c"]}


def test_an_allowlisted_command_runs_with_its_arguments_and_no_shell(site: Path, make_ctx: MakeCtx) -> None:
    ctx = make_ctx(commands=PY)
    code = "import os, sys; print(os.getcwd()); print(sys.argv[1])"
    outcome = KIND.apply(ctx, CommandParams(command="py", args=(code, "$(touch pwned); echo hi")))
    cwd, arg = outcome.details["stdout"].splitlines()
    assert cwd == str(site)
    assert arg == "$(touch pwned); echo hi"
    assert not (site / "pwned").exists()
    assert outcome.changes[0]["exitCode"] == 0


def test_a_command_not_allowlisted_is_refused(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(commands=PY)
    assert "not allowlisted" in KIND.preview(ctx, CommandParams(command="rm")).errors[0]
    with pytest.raises(ActionError, match=re.escape("'rm' is not allowlisted in actions.commands (allowed: py)")):
        KIND.apply(ctx, CommandParams(command="rm", args=("-rf", "/")))


def test_a_command_that_runs_too_long_is_stopped(make_ctx: MakeCtx) -> None:
    params = CommandParams(command="py", args=("import time; time.sleep(30)",), timeout_seconds=0.5)
    with pytest.raises(ActionError, match=re.escape("timed out after 0.5 s")):
        KIND.apply(make_ctx(commands=PY), params)


def test_a_failing_command_reports_its_exit_code_and_stderr(make_ctx: MakeCtx) -> None:
    params = CommandParams(command="py", args=("import sys; sys.exit('broken build')",))
    outcome = KIND.apply(make_ctx(commands=PY), params)
    assert outcome.summary.endswith("exited with 1")
    assert "broken build" in outcome.errors[0]


def test_a_working_directory_outside_is_refused(make_ctx: MakeCtx) -> None:
    with pytest.raises(PathRefused):
        KIND.apply(make_ctx(commands=PY), CommandParams(command="py", args=("pass",), cwd=".."))


def test_the_command_does_not_inherit_the_exporters_secrets(make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFBUDGET_API_TOKEN", "s3cret")
    monkeypatch.setenv("BUILD_FLAVOUR", "prod")
    code = "import os; print(sorted(k for k in os.environ if k.startswith(('PERFBUDGET', 'BUILD'))))"
    params = CommandParams(command="py", args=(code,), env_passthrough=("BUILD_FLAVOUR",))
    outcome = KIND.apply(make_ctx(commands=PY, run_id="run-9"), params)
    assert outcome.details["stdout"].strip() == "['BUILD_FLAVOUR', 'PERFBUDGET_RUN_ID']"


def test_a_timeout_also_stops_what_the_command_started(make_ctx: MakeCtx, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
        f"open({str(pidfile)!r}, 'w').write(str(child.pid)); time.sleep(30)"
    )
    with pytest.raises(ActionError, match="timed out"):
        KIND.apply(make_ctx(commands=PY), CommandParams(command="py", args=(code,), timeout_seconds=1))
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(pid), "the grandchild survived the timeout"


def running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
