"""`cache-headers`: a year-long immutable cache for fingerprinted assets, revalidation for everything else.

A file whose name carries a content hash (`app.3f9a1c2e.js`, `index-BXa3c_9f.css`) never changes under
that name, so browsers and CDNs may keep it for a year without asking again; a file without one must
be revalidated, or users keep stale code. The policy is written for nginx, Caddy and Apache, and its
pattern is run against every file actually present: a file it would wrongly freeze is an error.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from .atomic import new_manifest
from .atomic import rollback as undo_writes
from .base import ActionContext, ActionOutcome, ActionParams
from .paths import allowed_dirs, display, output_dir, roots, walk

DEFAULT_SUFFIXES = (
    ".js",
    ".mjs",
    ".css",
    ".woff2",
    ".woff",
    ".ttf",
    ".otf",
    ".svg",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".webp",
    ".avif",
    ".ico",
    ".wasm",
)
IMMUTABLE = "public, max-age={age}, immutable"
_HEX = re.compile(r"[0-9a-f]{8,64}")
_TOKEN = re.compile(r"[A-Za-z0-9_]{8,32}")


class CacheHeadersParams(ActionParams):
    dirs: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = DEFAULT_SUFFIXES
    max_age_seconds: Annotated[int, Field(ge=60, le=31_536_000)] = 31_536_000
    # Cache-Control for assets without a hash: revalidate every time (cheap with ETag / Last-Modified).
    unhashed: str = "no-cache"
    output_dir: str | None = None


def fingerprint(name: str) -> str | None:
    """The content hash in a file name (`app.3f9a1c2e.js`, `index-BXa3c_9f.css`), or None.

    The hash is the token between the last '.' or '-' and the extension. Hex tokens need a digit;
    other tokens must look random: words such as `SemiBold` switch between digits, upper and lower
    case far less often than a bundler's base64 hash does. Hashes that themselves contain '-' (some
    Rollup/Vite ones) are not recognised; those files get revalidation, which is safe, only slower.
    """
    base = name[: -len(Path(name).suffix)] if Path(name).suffix else name
    cut = max(base.rfind("."), base.rfind("-"))
    token = base[cut + 1 :] if cut >= 0 else ""
    if _HEX.fullmatch(token):
        return token if any(c.isdigit() for c in token) else None
    if not _TOKEN.fullmatch(token):
        return None
    classes = ["d" if c.isdigit() else "u" if c.isupper() else "l" if c.islower() else "o" for c in token]
    switches = sum(1 for a, b in itertools.pairwise(classes) if a != b)
    # A word like `SemiBold` switches 3 times; a random token with a digit rarely switches fewer.
    needed = 3 if "d" in classes else 4
    return token if len(set(classes) - {"o"}) >= 2 and switches >= needed else None


def _pattern(hashes: list[str], suffixes: set[str]) -> str:
    """One regular expression (the PCRE/RE2 common subset) for the hash shapes seen and their suffixes."""
    lengths = sorted({len(h) for h in hashes})
    hexadecimal = all(re.fullmatch(r"[0-9a-f]+", h) for h in hashes)
    alphabet = "[0-9a-f]" if hexadecimal else "[A-Za-z0-9_]"
    span = f"{{{lengths[0]}}}" if len(lengths) == 1 else f"{{{lengths[0]},{lengths[-1]}}}"
    exts = "|".join(sorted(re.escape(s.lstrip(".")) for s in suffixes))
    return rf"[.-]{alphabet}{span}\.({exts})$"


def _snippets(pattern: str, immutable: str, unhashed: str) -> dict[str, str]:
    return {
        "nginx.conf": (
            "# In the http {} block. Then, in the server {} that serves the assets:\n"
            "#     add_header Cache-Control $perfbudget_cache_control always;\n"
            "map $uri $perfbudget_cache_control {\n"
            f'    "~*{pattern}" "{immutable}";\n'
            f'    default "{unhashed}";\n'
            "}\n"
        ),
        "Caddyfile": (
            "# Inside the site block that serves the assets.\n"
            f"@fingerprinted path_regexp `{pattern}`\n"
            f'header @fingerprinted Cache-Control "{immutable}"\n'
            f"@unhashed not path_regexp `{pattern}`\n"
            f'header @unhashed Cache-Control "{unhashed}"\n'
        ),
        "apache.conf": (
            "# In the <VirtualHost> or <Directory> that serves the assets (needs mod_headers).\n"
            "# <FilesMatch> is merged after the directory, so its header wins for fingerprinted files.\n"
            f'Header set Cache-Control "{unhashed}"\n'
            f'<FilesMatch "{pattern}">\n'
            f'    Header set Cache-Control "{immutable}"\n'
            "</FilesMatch>\n"
        ),
    }


def _policy(ctx: ActionContext, params: CacheHeadersParams) -> tuple[ActionOutcome, dict[str, str]]:
    dirs = allowed_dirs(ctx)
    files, errors = walk(ctx, roots(ctx, params.dirs), params.suffixes)
    hashed = {f: h for f in files if (h := fingerprint(f.name)) is not None}
    plain = [f for f in files if f not in hashed]
    if not hashed:
        summary = f"no fingerprinted assets among {len(files)} file(s): a long cache would serve stale files"
        return ActionOutcome(summary, errors=errors, details={"unhashed": len(plain)}), {}
    pattern = _pattern(list(hashed.values()), {f.suffix.lower() for f in hashed})
    compiled = re.compile(pattern, re.IGNORECASE)
    # The check against the files present: what the server's regex would do to each one.
    frozen_wrongly = [display(f, dirs) for f in plain if compiled.search(f.name)]
    missed = [display(f, dirs) for f in hashed if not compiled.search(f.name)]
    errors += [f"{name}: has no content hash but the pattern would cache it for a year" for name in frozen_wrongly]
    immutable = IMMUTABLE.format(age=params.max_age_seconds)
    snippets = _snippets(pattern, immutable, params.unhashed)
    total = sum(f.stat().st_size for f in hashed)
    changes = [
        {"path": display(f, dirs), "hash": h, "cacheControl": immutable, "bytes": f.stat().st_size}
        for f, h in sorted(hashed.items())
    ] + [{"path": display(f, dirs), "hash": None, "cacheControl": params.unhashed} for f in plain]
    summary = (
        f"{len(hashed)} fingerprinted asset(s) ({total:,} bytes) cacheable for {params.max_age_seconds:,} s "
        f"without revalidation; {len(plain)} other file(s) revalidate"
    )
    details = {"pattern": pattern, "snippets": snippets, "missed": missed, "frozenWrongly": frozen_wrongly}
    return ActionOutcome(summary, changes, errors=errors, details=details), snippets


class CacheHeadersAction:
    name = "cache-headers"
    Params = CacheHeadersParams

    def preview(self, ctx: ActionContext, params: CacheHeadersParams) -> ActionOutcome:
        outcome, snippets = _policy(ctx, params)
        if snippets:
            where = output_dir(ctx, params.output_dir, self.name)
            outcome.details["paths"] = [str(where / name) for name in snippets]
        return outcome

    def apply(self, ctx: ActionContext, params: CacheHeadersParams) -> ActionOutcome:
        outcome, snippets = _policy(ctx, params)
        if not snippets or outcome.details.get("frozenWrongly"):
            # A policy that would freeze an unhashed file must be fixed by a person, not written out.
            outcome.summary = "nothing written: " + (
                "the pattern would cache unhashed files for a year" if snippets else outcome.summary
            )
            return outcome
        where = output_dir(ctx, params.output_dir, self.name)
        manifest = new_manifest(ctx, self.name)
        written = {str(where / name): manifest.put(where / name, text.encode()) for name, text in snippets.items()}
        outcome.details["written"] = written
        outcome.summary += f"; snippets in {where}"
        outcome.manifest = manifest.to_json()
        return outcome

    def rollback(self, ctx: ActionContext, manifest: Mapping[str, Any]) -> ActionOutcome:
        return undo_writes(ctx, manifest)


KIND = CacheHeadersAction()
