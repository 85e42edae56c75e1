"""Which releases exist, for the `version` label (config/releases.py): the config's and the announced ones.

A deploy pipeline announces a release with `POST /api/releases` (web/releases.py); the announcements live
in `releases.sqlite` in the data directory (WAL, shared by every worker, kept across restarts), the
`keep` most recent of them. Each worker re-reads that list at most every `refresh_seconds`, on the next
beacon that asks, so a release announced to one worker is counted under its own version by all of them
within a refresh, without a restart. A beacon's version is known when it is one of the `keep` most recent
of (the configured versions, then the announced ones in the order announced) or matches the configured
pattern; anything else, or none, is `other`, counted by reason in perfbudget_version_other_total.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from .config.releases import OTHER_VERSION, VERSION_PATTERN, ReleasesConfig
from .sqlite import prepare

VersionOtherReason = Literal["unknown_version", "no_version", "slab_full"]
#: Why a report's version is `other`: the reason label of perfbudget_version_other_total.
VERSION_OTHER_REASONS: tuple[VersionOtherReason, ...] = get_args(VersionOtherReason)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS releases (version TEXT PRIMARY KEY, announced_at REAL NOT NULL, "
    "seq INTEGER NOT NULL)",
)
_LABEL = re.compile(VERSION_PATTERN)  # what a pattern-matched version must also be to become a label value


@dataclass(frozen=True, slots=True)
class Release:
    version: str
    announced_at: float | None  # None: listed in the config
    source: Literal["config", "api"]

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "announcedAt": self.announced_at, "source": self.source}


class ReleaseStore:
    """The announced releases, the `keep` most recent, in one SQLite file every worker opens."""

    def __init__(self, path: Path, keep: int) -> None:
        self.path = path
        self._keep = keep
        prepare(path, _SCHEMA)
        self._db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()

    def announce(self, version: str, at: float) -> list[Release]:
        """Record `version` as the newest release (again, if it was announced before); drop those past `keep`.
        Returns the releases kept, newest first."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (top,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM releases").fetchone()
                self._db.execute("INSERT OR REPLACE INTO releases (version, announced_at, seq) VALUES (?, ?, ?)",
                                 (version, at, int(top) + 1))
                self._db.execute("DELETE FROM releases WHERE seq NOT IN (SELECT seq FROM releases ORDER BY seq DESC "
                                 "LIMIT ?)", (self._keep,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return self.announced()

    def announced(self) -> list[Release]:
        """The announced releases kept, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT version, announced_at FROM releases ORDER BY seq DESC LIMIT ?",
                                    (self._keep,)).fetchall()
        return [Release(str(version), float(at), "api") for version, at in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Releases:
    """A worker's view of the known versions: the label value of each report's version."""

    def __init__(self, config: ReleasesConfig, store: ReleaseStore,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.keep = config.keep
        self._configured = list(config.versions)
        self._pattern = re.compile(config.pattern) if config.pattern is not None else None
        self._store = store
        self._refresh = config.refresh_seconds
        self._monotonic = monotonic
        self._read_at: float | None = None
        self._known: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def releases(self) -> list[Release]:
        """The known releases, newest first: the `keep` most recent of the announced, then the configured."""
        announced = self._store.announced()
        seen = {release.version for release in announced}
        configured = [Release(v, None, "config") for v in reversed(self._configured) if v not in seen]
        return [*announced, *configured][: self.keep]

    def version(self, claimed: str | None) -> tuple[str, VersionOtherReason | None]:
        """(the label value, why it is `other` or None) of a report's version."""
        if claimed is None:
            return OTHER_VERSION, "no_version"
        if claimed in self._current():
            return claimed, None
        if (self._pattern is not None and claimed != OTHER_VERSION and self._pattern.fullmatch(claimed)
                and _LABEL.fullmatch(claimed)):
            return claimed, None
        return OTHER_VERSION, "unknown_version"

    def _current(self) -> frozenset[str]:
        now = self._monotonic()
        read_at = self._read_at
        if read_at is not None and now - read_at < self._refresh:
            return self._known
        with self._lock:
            if self._read_at is None or now - self._read_at >= self._refresh:
                try:
                    self._known = frozenset(release.version for release in self.releases())
                except sqlite3.Error:
                    pass  # a locked file keeps the last list until the next refresh
                self._read_at = now
        return self._known
