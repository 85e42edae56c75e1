"""The `perfbudget` command: serve | demo | check | generate | import-lighthouse | playbooks | report | compare

One module per command, each with `configure(parser)` that adds its arguments and sets `func`
(argparse.Namespace -> exit code).
The command modules are imported only when their command runs, so that `perfbudget --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from .. import __version__

#: Every command, in the order `--help` lists them, and the module that implements it.
COMMANDS = {
    "serve": "run the exporter (production server with several workers)",
    "demo": "run the exporter with the bundled demo shop and a copy of it as the site root; prints the URLs",
    "check": "validate the config, budgets and playbooks; non-zero exit on errors",
    "generate": "write the Prometheus rules, Alertmanager config and Grafana dashboards from the budgets",
    "import-lighthouse": "turn a Lighthouse CI budget.json (its timings) into a budgets.yaml",
    "playbooks": "list, show, run and roll back playbooks",
    "report": "the analytics over a range (perfbudget or Prometheus) as HTML with charts, Markdown or JSON",
    "compare": "did a release make the Web Vitals worse? Two versions' p75 and good share, tested; exit 1 if worse",
}


def _module(command: str) -> str:
    return f"{__name__}.{command.replace('-', '_')}"


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the command named in `argv` (every command when unknown) is imported."""
    parser = argparse.ArgumentParser(
        prog="perfbudget",
        description="Real-user Core Web Vitals and performance budgets for Prometheus, Grafana and Alertmanager.",
    )
    parser.add_argument("--version", action="version", version=f"perfbudget {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    args = list(sys.argv[1:] if argv is None else argv)
    named = next((arg for arg in args if not arg.startswith("-")), None)
    for command, help_text in COMMANDS.items():
        command_parser = sub.add_parser(command, help=help_text)
        if named not in COMMANDS or command == named:  # the others are listed in --help, not loaded
            importlib.import_module(_module(command)).configure(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
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
