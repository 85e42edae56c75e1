"""The generated rules written into the operator's rules folder (`prometheus.rules_dir`), and Prometheus
asked to load them (`POST <prometheus.url>/-/reload`).

The rules are what `perfbudget generate` writes under alertmanager/rules/ for the same budgets file,
ALERT_THRESHOLD_* and overrides file, byte for byte; each file is replaced atomically, so Prometheus never
reads half of one. The folder is the operator's: never one inside the installed package.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..config.model import Config
from . import naming
from .generate import generate
from .overrides import overrides_path

RULES_PREFIX = f"{naming.RULES_DIR}/"


@dataclass(frozen=True, slots=True)
class Published:
    """What a publish did: the folder, the rule files written there, and Prometheus's reload."""

    rules_dir: str
    files: tuple[str, ...]
    # "reloaded", "not asked (prometheus.url is not set)", "not asked (prometheus.reload is false)", or why
    # the reload failed.
    prometheus: str
    reloaded: bool


def _package_dir() -> Path:
    return Path(str(resources.files("perfbudget"))).resolve()


def rules_dir_problem(config: Config) -> str | None:
    """Why the rules cannot be regenerated for this config (a 409's message), or None when they can."""
    folder = config.prometheus.rules_dir
    if folder is None:
        return ("no rules folder is configured: set prometheus.rules_dir to the folder your Prometheus loads "
                "rule files from (rule_files: ['<dir>/*.yml']), writable by perfbudget, and prometheus.url so "
                "that perfbudget asks it to reload. Without one, change the threshold in the budgets file "
                "(service: and resources:) or with ALERT_THRESHOLD_*, run `perfbudget generate`, and load the "
                "rules it writes in alertmanager/rules/ (in Kubernetes, apply them as the generated "
                "PrometheusRule)")
    resolved = folder.resolve()
    if resolved == _package_dir() or _package_dir() in resolved.parents:
        return (f"prometheus.rules_dir {folder} is inside the installed perfbudget package, whose bundled files "
                "are never rewritten: point it at the folder your Prometheus loads rule files from")
    if not folder.is_dir():
        return f"prometheus.rules_dir {folder} is not a directory: create it (writable by perfbudget) or change it"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (f"prometheus.rules_dir {folder} is not writable by perfbudget: make it writable, or change the "
                "threshold in the budgets file and apply `perfbudget generate`'s rules (in Kubernetes, the "
                "generated PrometheusRule)")
    return None


def rule_texts(config: Config, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """File name -> text of every rule file `perfbudget generate` makes for this config (rule tests aside)."""
    files = generate(config.budgets_file, env, overrides_path(config))
    return {
        file.path[len(RULES_PREFIX):]: file.text for file in files
        if file.path.startswith(RULES_PREFIX) and "/" not in file.path[len(RULES_PREFIX):]
    }


def write_rules(folder: Path, texts: Mapping[str, str]) -> tuple[str, ...]:
    """Replace each file in `folder` atomically; the names written."""
    for name, text in texts.items():
        temporary = folder / f".{name}.{os.getpid()}.tmp"
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, folder / name)
    return tuple(texts)


def reload_prometheus(url: str, timeout: float) -> str | None:
    """POST <url>/-/reload; None when Prometheus took it, else why not."""
    request = urllib.request.Request(f"{url}/-/reload", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return None
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace").strip()[:200]
        hint = " (start Prometheus with --web.enable-lifecycle)" if exc.code in (403, 404) else ""
        return f"{url}/-/reload answered {exc.code}{hint}: {body}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{url}/-/reload failed: {reason}"


def publish(config: Config, env: Mapping[str, str] | None = None) -> Published:
    """Regenerate the rules into `prometheus.rules_dir` and ask Prometheus to load them. The caller has
    checked `rules_dir_problem`; OSError when a file cannot be written, ConfigError for invalid files."""
    folder = config.prometheus.rules_dir
    assert folder is not None, "publish needs prometheus.rules_dir (see rules_dir_problem)"
    written = write_rules(folder, rule_texts(config, env))
    if config.prometheus.url is None:
        return Published(str(folder), written, "not asked (prometheus.url is not set)", False)
    if not config.prometheus.reload:
        return Published(str(folder), written, "not asked (prometheus.reload is false)", False)
    problem = reload_prometheus(config.prometheus.url, config.prometheus.timeout_seconds)
    return Published(str(folder), written, problem or "reloaded", problem is None)
