"""A playbook run as an anonymous reader sees it: what would change and what it saves, without secrets or
internals (README, "Security").

Anyone may read the audit log while `auth.anonymous_reads` is on (the default), and a dry run needs no
token, so what an action records for the operator (request bodies and headers, manifests, backups, response
bodies, PromQL, who asked and from where, alert annotations, the server's own paths) must not reach an
anonymous reader. This is an allowlist: fields not named here are left out; every text that stays has its
URLs redacted and its absolute paths replaced (paths inside the site by their path in the site, others by
`<path>`). A token with the "read" scope sees the whole run (`web/runs.py`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..config.model import Config
from ..playbooks.actions.http_json import redact_url

#: Alert labels an anonymous reader may see: the ones the generated rules set and playbooks match on. Others
#: (instance, job, mountpoint, ...) name hosts and disks.
PUBLIC_LABELS = ("alertname", "severity", "metric", "budget", "route", "device", "site", "version")
PATH_PLACEHOLDER = "<path>"
_URL = re.compile(r"\bhttps?://[^\s'\"<>`]+")
# An absolute path: a slash after the start of the text, a space, a quote, '(', '=' or ','.
_ABSOLUTE = re.compile(r"(?<![^\s'\"(=,\[])/[^\s'\"<>`,;)\]]+")


@functools.cache
def _top_level_dirs() -> frozenset[str]:
    """The directories at this machine's filesystem root: a path that starts with one is a file path, not a
    site URL path like `/img/hero.jpg`."""
    try:
        return frozenset(entry.name for entry in os.scandir("/") if entry.is_dir())
    except OSError:
        return frozenset({"tmp", "home", "root", "etc", "var", "srv", "usr", "opt", "data", "app", "run", "mnt"})


class Redactor:
    """Texts and JSON as an anonymous reader sees them, for one configuration."""

    def __init__(self, config: Config) -> None:
        site = list(config.actions.allowed_dirs) or ([config.site_root] if config.site_root is not None else [])
        prefixes: dict[str, str] = {}
        for root in site:
            shown = "" if len(site) == 1 else f"{Path(root).name}/"
            for form in _forms(root):
                prefixes[f"{form}/"] = shown
                prefixes.setdefault(form, shown.rstrip("/") or ".")
        internal: tuple[tuple[Path | None, str], ...] = (
            (config.data_dir, "<data_dir>"), (config.playbooks.directory, "<playbooks>"))
        for other, label in internal:
            for form in _forms(other):
                prefixes.setdefault(f"{form}/", f"{label}/")
                prefixes.setdefault(form, label)
        # Longest first, so /srv/www/static/img wins over /srv/www.
        self._prefixes = sorted(prefixes.items(), key=lambda item: -len(item[0]))

    def text(self, value: str) -> str:
        value = _URL.sub(lambda match: redact_url(match.group(0)), value)
        return _ABSOLUTE.sub(self._path, value)

    def json(self, value: Any) -> Any:
        """`value` (JSON built of dicts and lists) with every string in it redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        return value

    def _path(self, match: re.Match[str]) -> str:
        path = match.group(0)
        for prefix, shown in self._prefixes:
            if path == prefix.rstrip("/") or path.startswith(prefix):
                return shown + path[len(prefix):] if prefix.endswith("/") else shown
        first = path.lstrip("/").split("/", 1)[0]
        return PATH_PLACEHOLDER if "/" in path.lstrip("/") and first in _top_level_dirs() else path


def _forms(root: Path | None) -> Iterable[str]:
    """A configured directory as texts may quote it: as configured, absolute, and with symlinks resolved."""
    if root is None:
        return ()
    path = Path(root)
    forms = {str(path.absolute()), str(path.resolve())}
    if path.is_absolute():
        forms.add(str(path))
    return [form for form in forms if form not in ("/", "")]


def _outcome(outcome: dict[str, Any] | None, r: Redactor) -> dict[str, Any] | None:
    """A preview or result: the summary, the changes, the bytes and the errors; never its details."""
    if outcome is None:
        return None
    return {
        "summary": r.text(str(outcome.get("summary", ""))),
        "changes": r.json(outcome.get("changes") or []),
        "bytesBefore": outcome.get("bytesBefore"),
        "bytesAfter": outcome.get("bytesAfter"),
        "bytesSaved": outcome.get("bytesSaved"),
        "errors": [r.text(str(error)) for error in outcome.get("errors") or ()],
    }


def _text(value: Any, r: Redactor) -> Any:
    return r.text(value) if isinstance(value, str) else value


def _action(action: dict[str, Any], r: Redactor) -> dict[str, Any]:
    keys: tuple[str, ...] = ("id", "description", "kind", "automated", "risk", "status")
    out: dict[str, Any] = {key: action[key] for key in keys if key in action}
    for key in ("preview", "result", "rollback"):
        if key in action:
            out[key] = _outcome(action[key], r)
    if "error" in action:
        out["error"] = _text(action["error"], r)
    if "durationSeconds" in action:
        out["durationSeconds"] = action["durationSeconds"]
    return out


def _measurement(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {key: value[key] for key in ("p75", "unit", "samples", "from", "to", "source") if key in value}


def _verification(value: dict[str, Any] | None, r: Redactor) -> dict[str, Any] | None:
    if value is None:
        return None
    keys: tuple[str, ...] = ("available", "metric", "route", "change", "verdict")
    out: dict[str, Any] = {key: value[key] for key in keys if key in value}
    if "reason" in value:
        out["reason"] = _text(value["reason"], r)
    for key in ("before", "after"):
        if key in value:
            out[key] = _measurement(value[key])
    return out


def _trigger(trigger: dict[str, Any]) -> dict[str, Any]:
    """What started the run; no token name, client address, receiver, annotations or internal URLs."""
    out: dict[str, Any] = {"type": trigger.get("type")}
    labels = trigger.get("labels")
    if isinstance(labels, dict):
        out["labels"] = {key: labels[key] for key in PUBLIC_LABELS if key in labels}
    return out


def public_run(run: dict[str, Any], r: Redactor) -> dict[str, Any]:
    """`run` (as `web/runs.run_json` builds it) as an anonymous reader may see it."""
    out = dict(run)
    out["message"] = _text(run.get("message"), r)
    out["trigger"] = _trigger(run.get("trigger") or {})
    out["executedActions"] = [{**item, "summary": _text(item.get("summary"), r)}
                              for item in run.get("executedActions") or ()]
    out["pendingManualActions"] = [
        {key: item.get(key) for key in ("id", "description", "kind", "risk")}
        | {"reason": _text(item.get("reason"), r), "preview": _outcome(item.get("preview"), r),
           "error": _text(item.get("error"), r)}
        for item in run.get("pendingManualActions") or ()
    ]
    if "actions" in run:
        out["actions"] = [_action(action, r) for action in run["actions"]]
        out["verification"] = _verification(run.get("verification"), r)
        out["events"] = [
            {"ts": event.get("ts"), "event": event.get("event")}
            | ({"message": _text(event["message"], r)} if "message" in event else {})
            for event in run.get("events") or ()
        ]
    out["detail"] = "public"
    return out
