"""Who runs a run: owners are "pid:token", so a run left `running` by a dead process can be told apart.

The token tells apart several runners in one process (tests, the development server's reloader).
"""

from __future__ import annotations

import os
import secrets

from ..processes import pid_alive

_LIVE_TOKENS: set[str] = set()


def new_owner() -> str:
    token = secrets.token_hex(4)
    _LIVE_TOKENS.add(token)
    return f"{os.getpid()}:{token}"


def release_owner(owner: str) -> None:
    _LIVE_TOKENS.discard(owner.partition(":")[2])


def owner_alive(owner: str) -> bool:
    """Whether the process (and, in this process, the runner) that claimed a run still exists."""
    pid_text, _, token = owner.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return token in _LIVE_TOKENS
    return pid_alive(pid)


def alive_at_start(owner: str) -> bool:
    """At start no worker exists yet, so every owner is dead except (in tests) this process's live runners."""
    return owner.startswith(f"{os.getpid()}:") and owner_alive(owner)
