"""Where actions may look: every path is resolved (symlinks and '..') and checked against the allowed dirs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .base import ActionContext, ActionError, PathRefused

#: The kinds that read or change the site's files, and so do nothing without a site root (or allowed dirs).
#: `preload` needs one only with an `output_dir`; `command` always runs inside one.
SITE_KINDS = frozenset({"images", "image-dimensions", "cache-headers", "js-audit", "command"})
NEEDS_SITE_ROOT = "needs a site root (set actions.allowed_dirs or PERFBUDGET_SITE_ROOT)"


class NeedsSiteRoot(ActionError):
    """The action works on the site's files and the config names none: the run skips it, it did not fail."""


def allowed_dirs(ctx: ActionContext) -> tuple[Path, ...]:
    """The context's allowed directories, or NeedsSiteRoot when the config allows none."""
    if not ctx.allowed_dirs:
        raise NeedsSiteRoot(NEEDS_SITE_ROOT)
    return ctx.allowed_dirs


def needs_site_root(kind: str, params: object) -> bool:
    """Whether an action of `kind` with `params` needs a site root to do anything."""
    return kind in SITE_KINDS or (kind == "preload" and getattr(params, "output_dir", None) is not None)


def inside(path: Path, dirs: Sequence[Path]) -> Path:
    """`path` fully resolved; PathRefused when that lands outside every directory in `dirs`."""
    resolved = path.resolve()
    for root in dirs:
        if resolved == root or resolved.is_relative_to(root):
            return resolved
    raise PathRefused(f"{path}: resolves to {resolved}, outside the allowed directories")


def roots(ctx: ActionContext, subdirs: Iterable[str]) -> list[Path]:
    """The directories named by an action's parameters (relative to each allowed dir), or all allowed dirs.

    A relative name that exists under no allowed directory is simply absent; one that escapes (through
    '..' or a symlink) raises PathRefused, so a playbook that tries it fails loudly.
    """
    dirs = allowed_dirs(ctx)
    names = list(subdirs)
    if not names:
        return list(dirs)
    found: list[Path] = []
    for name in names:
        candidates = [Path(name)] if Path(name).is_absolute() else [root / name for root in dirs]
        for candidate in candidates:
            resolved = inside(candidate, dirs)
            if resolved.is_dir() and resolved not in found:
                found.append(resolved)
    return found


def walk(ctx: ActionContext, start: Sequence[Path], suffixes: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Files under `start` whose suffix is in `suffixes` (lower case, with dot), sorted, and refusals.

    Hidden files and directories are skipped (VCS metadata, our own temporary files). Symlinked
    directories are not followed; a symlinked file is kept only when its target is allowed too.
    """
    dirs = allowed_dirs(ctx)
    wanted = {s.lower() for s in suffixes}
    files: set[Path] = set()
    refused: list[str] = []
    for top in start:
        for current, subdirs, names in os.walk(top, followlinks=False):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in names:
                if name.startswith(".") or Path(name).suffix.lower() not in wanted:
                    continue
                try:
                    files.add(inside(Path(current) / name, dirs))
                except PathRefused as exc:
                    refused.append(str(exc))
    return sorted(f for f in files if f.is_file()), refused


def url_to_file(url: str, dirs: Sequence[Path]) -> Path | None:
    """The allowed file a page URL (absolute or a path) serves, or None when no allowed dir has it.

    URLs come from anonymous beacons: one that names no possible file (a NUL byte from `%00`, a name
    too long for the file system) is None too, never an exception that would stop the action.
    """
    try:
        path = unquote(urlsplit(url).path).lstrip("/")
    except ValueError:  # urlsplit refuses some malformed netlocs
        return None
    if not path:
        return None
    for root in dirs:
        try:
            candidate = inside(root / path, dirs)
            if candidate.is_file():
                return candidate
        except (PathRefused, ValueError, OSError):  # escapes the allowed dirs, or no file could have that name
            return None
    return None


def display(path: Path, dirs: Sequence[Path]) -> str:
    """A path relative to the allowed directory that holds it, for outcomes people read."""
    for root in dirs:
        if path.is_relative_to(root):
            return str(path.relative_to(root)) if len(dirs) == 1 else str(Path(root.name) / path.relative_to(root))
    return str(path)


def output_dir(ctx: ActionContext, name: str | None, kind: str) -> Path:
    """Where a kind writes generated files: `name` inside an allowed dir, else the run's own directory.

    The run directory is the default because snippets for the server config do not belong in a
    directory the web server publishes.
    """
    if name is None:
        return ctx.run_dir / kind
    dirs = allowed_dirs(ctx)
    return inside(Path(name) if Path(name).is_absolute() else dirs[0] / name, dirs)
