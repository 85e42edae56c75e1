"""Writes that never leave a half-written file, and the manifest that lets rollback undo them exactly.

An apply returns its manifest only when it finishes; a crash (kill -9, power loss) or a timeout in the middle
would leave files no manifest names. So every write is first appended to the run's journal
(`runs/<id>/journal.jsonl`, fsynced): rollback undoes journalled writes no finished manifest covers, and
temporary files a crash left beside the targets are removed.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import ActionContext, ActionError, ActionOutcome, PathRefused
from .paths import inside

MANIFEST_VERSION = 1
JOURNAL = "journal.jsonl"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_beside(path: Path, data: bytes, mode: int) -> Path:
    # Same directory as the target, so the final rename or link never crosses a filesystem.
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; the web server must be able to read what we write.
        os.chmod(temp, mode)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_new(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Create `path` with `data` atomically; FileExistsError when it exists (an original is never replaced)."""
    temp = _temp_beside(path, data, mode)
    try:
        try:
            # link() refuses an existing target atomically, which rename() would silently replace.
            os.link(temp, path)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            # Filesystems without hard links: the check and the rename are not atomic together.
            if path.exists():
                raise FileExistsError(errno.EEXIST, "exists", str(path)) from exc
            os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def replace(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with `data` atomically (readers see the old or the new file, never a mix)."""
    temp = _temp_beside(path, data, mode)
    try:
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _journal(journal: Path | None, line: dict[str, Any]) -> None:
    """Append one intended write to the run's journal, durably, before the write happens."""
    if journal is None:
        return
    journal.parent.mkdir(parents=True, exist_ok=True)
    with journal.open("ab") as handle:
        handle.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


def journal_manifests(run_dir: Path) -> list[dict[str, Any]]:
    """The run's journalled writes as one recovered manifest per kind (what rollback takes), in order."""
    path = run_dir / JOURNAL
    if not path.is_file():
        return []
    by_kind: dict[str, dict[str, Any]] = {}
    for raw in path.read_bytes().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue  # the last line, torn by the crash: its write never started
        manifest = by_kind.setdefault(line["kind"], {"version": MANIFEST_VERSION, "kind": line["kind"],
                                                     "created": [], "replaced": [], "journal": True})
        manifest["created" if line["op"] == "create" else "replaced"].append(line["entry"])
    return list(by_kind.values())


def _temporaries(path: Path) -> list[Path]:
    return [Path(p) for p in glob.glob(os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.tmp"))]


def _remove_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files a cut-short write of `path` left beside it; returns those removed."""
    removed = []
    for temp in _temporaries(path):
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
            removed.append(temp)
    return removed


def discard_temporaries(run_dir: Path) -> list[Path]:
    """Remove the temporary files a crash left beside the run's journalled targets; returns them.

    Call it only when no process is writing for the run (at start, or once the run is interrupted).
    """
    return [temp for manifest in journal_manifests(run_dir)
            for entry in (*manifest["created"], *manifest["replaced"])
            for temp in _remove_temporaries(Path(entry["path"]))]


@dataclass
class Manifest:
    """What one apply wrote: files it created and files it replaced (with their backups)."""

    kind: str
    backup_dir: Path
    created: list[dict[str, Any]] = field(default_factory=list)
    replaced: list[dict[str, Any]] = field(default_factory=list)
    # The run's journal: every write is appended here before it happens (None: not journalled).
    journal: Path | None = None

    def create(self, path: Path, data: bytes, mode: int = 0o644) -> None:
        """Write a new file and record it; FileExistsError leaves the manifest unchanged."""
        entry = {"path": str(path), "sha256": sha256(data), "bytes": len(data)}
        _journal(self.journal, {"kind": self.kind, "op": "create", "entry": entry})
        write_new(path, data, mode)
        self.created.append(entry)

    def overwrite(self, path: Path, data: bytes) -> None:
        """Back `path` up into the run directory, then replace it; the backup is what rollback restores."""
        old_mode = stat.S_IMODE(path.stat().st_mode)
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        backup = self.backup_dir / f"{len(self.replaced) + len(self.created):05d}-{path.name}"
        shutil.copy2(path, backup)
        before = file_sha256(backup)
        entry = {"path": str(path), "backup": str(backup), "sha256": sha256(data), "sha256Before": before,
                 "mode": old_mode}
        _journal(self.journal, {"kind": self.kind, "op": "replace", "entry": entry})
        replace(path, data, old_mode)
        self.replaced.append(entry)

    def put(self, path: Path, data: bytes) -> str:
        """Make `path` hold `data`: create it, replace it (with a backup), or leave it when it already does.

        Returns "created", "replaced" or "unchanged", so a second apply of generated files is a no-op.
        """
        if path.exists():
            if path.read_bytes() == data:
                return "unchanged"
            self.overwrite(path, data)
            return "replaced"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.create(path, data)
        return "created"

    def to_json(self) -> dict[str, Any] | None:
        if not self.created and not self.replaced:
            return None
        return {"version": MANIFEST_VERSION, "kind": self.kind, "created": self.created, "replaced": self.replaced}


def new_manifest(ctx: ActionContext, kind: str) -> Manifest:
    return Manifest(kind=kind, backup_dir=ctx.run_dir / "backups" / kind, journal=ctx.run_dir / JOURNAL)


def rollback(ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
    """Undo a manifest: remove the files apply created and restore the ones it replaced.

    A file that changed after apply (someone edited it since) is left alone and reported: rollback
    must never destroy work it did not do. Every path is checked again, because a manifest read back
    from the store is input like any other. A manifest recovered from the journal (`"journal": true`)
    lists writes that were about to happen: one whose file does not hold what was to be written never
    happened (or is someone else's), so it is left alone without an error, and temporary files beside
    its targets are removed.
    """
    if manifest.get("version") != MANIFEST_VERSION:
        raise ActionError(f"manifest version {manifest.get('version')!r} is not {MANIFEST_VERSION}")
    recovered = bool(manifest.get("journal"))
    runs_dir = ctx.run_dir.parent.resolve()
    # Generated files (snippets, reports) may live in the run directories instead of the site.
    dirs = (*ctx.allowed_dirs, runs_dir)
    changes: list[dict[str, Any]] = []
    errors: list[str] = []
    freed = 0
    for entry in manifest.get("created", []):
        path = Path(entry["path"])
        try:
            target = inside(path, dirs)
        except PathRefused as exc:
            errors.append(str(exc))
            continue
        if recovered:
            changes += [{"path": str(t), "action": "removed temporary file"} for t in _remove_temporaries(target)]
        if not target.exists():
            changes.append({"path": str(path), "action": "already absent"})
            continue
        if file_sha256(target) != entry["sha256"]:
            if recovered:
                changes.append({"path": str(path), "action": "left alone: not what this run wrote"})
            else:
                errors.append(f"{path}: changed since apply, left in place")
            continue
        freed += target.stat().st_size
        target.unlink()
        changes.append({"path": str(path), "action": "removed"})
    for entry in manifest.get("replaced", []):
        path, backup = Path(entry["path"]), Path(entry["backup"])
        try:
            target = inside(path, dirs)
            inside(backup, (runs_dir,))
        except PathRefused as exc:
            errors.append(str(exc))
            continue
        if recovered:
            changes += [{"path": str(t), "action": "removed temporary file"} for t in _remove_temporaries(target)]
        if not backup.is_file():
            errors.append(f"{path}: backup {backup} is missing")
            continue
        current = file_sha256(target) if target.exists() else None
        if current == entry["sha256Before"]:
            changes.append({"path": str(path), "action": "already restored"})
            continue
        if recovered and current != entry["sha256"]:
            changes.append({"path": str(path), "action": "left alone: not what this run wrote"})
            continue
        if current is not None and current != entry["sha256"]:
            errors.append(f"{path}: changed since apply, left in place (backup kept at {backup})")
            continue
        replace(target, backup.read_bytes(), int(entry["mode"]))
        changes.append({"path": str(path), "action": "restored"})
    with contextlib.suppress(OSError):
        # Empty backup directories are noise in the run directory; a non-empty one stays.
        Path(ctx.run_dir / "backups" / str(manifest.get("kind", ""))).rmdir()
    done = sum(1 for c in changes if c["action"] in ("removed", "restored"))
    summary = f"rolled back {done} file(s)" + (f", {len(errors)} left alone" if errors else "")
    return ActionOutcome(summary=summary, changes=changes, errors=errors, details={"bytesRemoved": freed})
