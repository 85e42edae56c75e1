"""`perfbudget generate` and `perfbudget import-lighthouse`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .config import ConfigError


def add_parsers(sub: Any) -> None:
    generate = sub.add_parser(
        "generate", help="write the Prometheus rules, Alertmanager config and Grafana dashboards from the budgets")
    generate.add_argument("--budgets", type=Path, metavar="FILE",
                          help="budgets file (default: $PERFBUDGET_BUDGETS, else the bundled budgets.yaml)")
    generate.add_argument("--output-dir", type=Path, default=Path("."), metavar="DIR",
                          help="where alertmanager/ and grafana/ are (default: the current directory)")
    generate.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 if the files differ from what would be generated")
    generate.set_defaults(func=generate_command)

    lighthouse = sub.add_parser(
        "import-lighthouse", help="turn a Lighthouse CI budget.json (its timings) into a budgets.yaml")
    lighthouse.add_argument("budget_json", type=Path, metavar="BUDGET_JSON")
    lighthouse.add_argument("--output", "-o", type=Path, metavar="FILE", help="write here instead of stdout")
    lighthouse.set_defaults(func=import_lighthouse_command)


def generate_command(args: argparse.Namespace) -> int:
    from .budgets.generate import diff, generate, write
    from .budgets.rule_tests import RuleTestError

    path = args.budgets
    if path is None and os.environ.get("PERFBUDGET_BUDGETS"):
        path = Path(os.environ["PERFBUDGET_BUDGETS"])
    try:
        files = generate(path)
    except ConfigError as exc:
        print(f"perfbudget generate: {len(exc.errors)} error(s):", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    except RuleTestError as exc:
        print(f"perfbudget generate: {exc}", file=sys.stderr)
        return 1
    if args.check:
        changed = diff(files, args.output_dir)
        if changed:
            print("perfbudget generate --check: out of date (run `perfbudget generate`):", file=sys.stderr)
            for changed_path in changed:
                print(f"  {changed_path}", file=sys.stderr)
            return 1
        print(f"perfbudget generate --check: {len(files)} files up to date")
        return 0
    written = write(files, args.output_dir)
    for written_path in written:
        print(f"wrote {written_path}")
    print(f"perfbudget generate: {len(written)} of {len(files)} files changed")
    return 0


def import_lighthouse_command(args: argparse.Namespace) -> int:
    from .budgets.lighthouse import import_lighthouse

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
