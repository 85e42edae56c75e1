"""An action's time limit: each call runs in its own thread and the run goes on without it when it is late."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .actions import ActionError

T = TypeVar("T")


class ActionTimeout(ActionError):
    pass


def call_with_timeout(fn: Callable[[], T], timeout: float, name: str) -> T:
    """`fn()` in its own thread; ActionTimeout after `timeout` seconds.

    Python cannot stop a thread, so a timed-out action is abandoned (a daemon thread) and the run goes on
    as failed; actions are written to be idempotent and to keep a way back, so that is recoverable.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"perfbudget-action-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ActionTimeout(f"timed out after {timeout:g}s (playbooks.action_timeout_seconds)")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
