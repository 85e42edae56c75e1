"""Whether a process on this host still exists: how the metrics store, the attribution merge and the run
owners tell a dead worker's leftovers from a live sibling's."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while a process with this pid exists (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
