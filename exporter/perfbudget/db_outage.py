"""A shared database that stops answering, said once: the first failure is logged (a warning naming the
database without its password, and what is kept meanwhile), the recovery once too, nothing in between.

The writers that batch into the shared database in the background (attribution_db, snapshots_db) keep
what they could not write and try again at their next interval; this is how they tell the operator.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("perfbudget.shared_store")


class Outage:
    """One writer's view of the database: down since its first failure, up again at its first success."""

    def __init__(self, what: str, location: str, kept: str) -> None:
        self._what, self._location, self._kept = what, location, kept
        self._down = False
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._down

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._down:
                return
            self._down = True
        reason = " ".join(str(exc).split()) or type(exc).__name__
        log.warning("the shared database %s does not answer (%s): %s; %s, written when it answers again",
                    self._location, self._what, reason, self._kept)

    def recovered(self) -> None:
        if not self._down:
            return
        with self._lock:
            self._down = False
        log.warning("the shared database %s answers again (%s): what was kept is written", self._location, self._what)
