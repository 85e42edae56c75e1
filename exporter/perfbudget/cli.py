"""The `perfbudget` command: serve | check | generate | playbooks ..."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perfbudget",
        description="Real-user Core Web Vitals and performance budgets for Prometheus, Grafana and Alertmanager.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Each command module adds its own subparser and sets `func` (argparse.Namespace -> exit code).
    from . import cli_serve

    cli_serve.add_parsers(sub)
    __import__("perfbudget.cli_generate", fromlist=["add_parsers"]).add_parsers(sub)
    from . import cli_playbooks

    cli_playbooks.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except BrokenPipeError:
        # `perfbudget playbooks show ID | head`: the reader left; that is not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
