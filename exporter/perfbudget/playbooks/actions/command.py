"""`command` (high risk): run a command the config allowlists, with arguments, a timeout and no shell.

The playbook names the command; the config (`actions.commands: {name: [argv prefix]}`) says what that
name runs. A playbook alone can therefore never run anything the operator did not list.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from ...config.env import RUN_ID_ENV
from .base import ActionContext, ActionError, ActionOutcome, ActionParams
from .paths import allowed_dirs, inside

OUTPUT_LIMIT = 4000


class CommandParams(ActionParams):
    command: Annotated[str, Field(min_length=1)]
    args: tuple[str, ...] = ()
    timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    # Working directory inside an allowed directory; the first allowed directory when unset.
    cwd: str | None = None
    # Environment variables passed through beyond the basic ones (PATH, HOME, LANG, ...).
    env_passthrough: tuple[str, ...] = ()


# The exporter's environment holds its API token and other secrets; a command gets only these.
BASIC_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")


def _env(ctx: ActionContext, params: CommandParams) -> dict[str, str]:
    names = (*BASIC_ENV, *params.env_passthrough)
    env = {name: os.environ[name] for name in names if name in os.environ}
    env[RUN_ID_ENV] = ctx.run_id
    return env


def _argv(ctx: ActionContext, params: CommandParams) -> tuple[list[str], Path]:
    prefix = ctx.config.actions.commands.get(params.command)
    if not prefix:
        allowed = ", ".join(sorted(ctx.config.actions.commands)) or "none"
        raise ActionError(f"command {params.command!r} is not allowlisted in actions.commands (allowed: {allowed})")
    dirs = allowed_dirs(ctx)
    cwd = dirs[0] if params.cwd is None else inside(dirs[0] / params.cwd, dirs)
    return [*prefix, *params.args], cwd


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[str, str, int]:
    """Run argv (never through a shell); on timeout kill its whole process group, children included."""
    # A session of its own, so a timeout also stops whatever the command started (a build's workers).
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return stdout, stderr, process.returncode


def _tail(text: str) -> str:
    # The end of the output is where tools print their errors.
    return text if len(text) <= OUTPUT_LIMIT else "..." + text[-OUTPUT_LIMIT:]


class CommandAction:
    name = "command"
    Params = CommandParams

    def preview(self, ctx: ActionContext, params: CommandParams) -> ActionOutcome:
        try:
            argv, cwd = _argv(ctx, params)
        except ActionError as exc:
            return ActionOutcome(f"would refuse to run {params.command!r}", errors=[str(exc)])
        return ActionOutcome(
            f"would run {argv!r} in {cwd} (timeout {params.timeout_seconds:g} s, no shell)",
            [{"argv": argv, "cwd": str(cwd)}],
        )

    def apply(self, ctx: ActionContext, params: CommandParams) -> ActionOutcome:
        argv, cwd = _argv(ctx, params)
        try:
            stdout, stderr, code = _run(argv, cwd, _env(ctx, params), params.timeout_seconds)
        except subprocess.TimeoutExpired as exc:
            raise ActionError(f"{argv[0]} timed out after {params.timeout_seconds:g} s") from exc
        except OSError as exc:
            raise ActionError(f"cannot run {argv[0]}: {exc}") from exc
        change = {"argv": argv, "cwd": str(cwd), "exitCode": code}
        details = {"stdout": _tail(stdout), "stderr": _tail(stderr)}
        if code != 0:
            return ActionOutcome(
                f"{argv[0]} exited with {code}",
                [change],
                errors=[f"exit code {code}: {_tail(stderr)[-500:]}"],
                details=details,
            )
        return ActionOutcome(f"{argv[0]} exited with 0", [change], details=details)

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        return ActionOutcome("a command's effects cannot be undone by perfbudget: nothing rolled back")


KIND = CommandAction()
