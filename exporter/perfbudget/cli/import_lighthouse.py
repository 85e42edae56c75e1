"""`perfbudget import-lighthouse`: a Lighthouse CI budget.json (its timings) as a budgets.yaml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..budgets.lighthouse import import_lighthouse
from ..config import ConfigError


def configure(lighthouse: argparse.ArgumentParser) -> None:
    lighthouse.add_argument("budget_json", type=Path, metavar="BUDGET_JSON")
    lighthouse.add_argument("--output", "-o", type=Path, metavar="FILE", help="write here instead of stdout")
    lighthouse.set_defaults(func=import_lighthouse_command)


def import_lighthouse_command(args: argparse.Namespace) -> int:
    try:
        text, skipped = import_lighthouse(args.budget_json)
    except ConfigError as exc:
        for error in exc.errors:
            print(f"perfbudget import-lighthouse: {error}", file=sys.stderr)
        return 1
    for note in skipped:
        print(f"perfbudget import-lighthouse: skipped {note}", file=sys.stderr)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
