"""What every command shares: the config flag, where the config comes from, how errors are printed."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from ..config.env import CONFIG_ENV


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config.file", dest="config_file", type=Path, metavar="FILE",
                        help=f"YAML configuration (default: ${CONFIG_ENV}, else the embedded defaults)")


def config_path(args: argparse.Namespace) -> Path | None:
    """The config file named by the flag, else by the environment; None means the embedded defaults."""
    if args.config_file is not None:
        return Path(args.config_file)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else None


def source_name(path: Path | None) -> str:
    return str(path) if path is not None else "embedded defaults"


def error_header(prefix: str, errors: Sequence[str], path: Path | None) -> str:
    """"PREFIX: 3 error(s) in budgets.yaml:" naming the files that hold the errors (every error starts with
    its file, or with the environment variable it came from), not only the config file that led there."""
    counts: dict[str, int] = {}
    for error in errors:
        where = re.sub(r":\d+:\d+$", "", error.split(": ", 1)[0]) if ": " in error else source_name(path)
        counts[where] = counts.get(where, 0) + 1
    if len(counts) == 1:
        return f"{prefix}: {len(errors)} error(s) in {next(iter(counts))}:"
    files = ", ".join(f"{where} ({count})" for where, count in counts.items())
    return f"{prefix}: {len(errors)} error(s) in {files}:"


def print_errors(header: str, errors: Sequence[str]) -> None:
    """`header`, then every error indented on its own line, on stderr."""
    print(header, file=sys.stderr)
    for error in errors:
        print(f"  {error}", file=sys.stderr)


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
