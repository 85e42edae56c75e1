"""`perfbudget generate`: the Prometheus rules, the Alertmanager config and the Grafana dashboards from the
budgets file, and the Kubernetes manifests that carry them (deploy/kubernetes/)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..budgets.generate import diff, generate, write
from ..budgets.overrides import OVERRIDES_FILE
from ..budgets.rule_tests import RuleTestError
from ..config import ConfigError
from ..config.env import BUDGETS_ENV
from ._common import print_errors


def configure(generate_parser: argparse.ArgumentParser) -> None:
    generate_parser.add_argument("--budgets", type=Path, metavar="FILE",
                                 help=f"budgets file (default: ${BUDGETS_ENV}, else the bundled budgets.yaml)")
    generate_parser.add_argument("--thresholds", type=Path, metavar="FILE",
                                 help="the service thresholds set through POST /api/performance-alerts (default: "
                                      f"{OVERRIDES_FILE} beside the budgets file, when there is one)")
    generate_parser.add_argument("--output-dir", type=Path, default=Path("."), metavar="DIR",
                                 help="where alertmanager/, grafana/ and deploy/kubernetes/ are "
                                      "(default: the current directory)")
    generate_parser.add_argument("--check", action="store_true",
                                 help="write nothing; exit 1 if the files differ from what would be generated")
    generate_parser.set_defaults(func=generate_command)


def generate_command(args: argparse.Namespace) -> int:
    path = args.budgets
    if path is None and os.environ.get(BUDGETS_ENV):
        path = Path(os.environ[BUDGETS_ENV])
    thresholds = args.thresholds
    if thresholds is not None and not thresholds.is_file():
        print(f"perfbudget generate: --thresholds {thresholds}: no such file", file=sys.stderr)
        return 1
    if thresholds is None and path is not None and (path.parent / OVERRIDES_FILE).exists():
        thresholds = path.parent / OVERRIDES_FILE
    if thresholds is not None:
        print(f"perfbudget generate: the service thresholds of {thresholds} over {path or 'the bundled budgets'}",
              file=sys.stderr)
    try:
        files = generate(path, thresholds=thresholds)
    except ConfigError as exc:
        print_errors(f"perfbudget generate: {len(exc.errors)} error(s):", exc.errors)
        return 1
    except RuleTestError as exc:
        print(f"perfbudget generate: {exc}", file=sys.stderr)
        return 1
    if args.check:
        changed = diff(files, args.output_dir)
        if changed:
            print_errors("perfbudget generate --check: out of date (run `perfbudget generate`):",
                         [str(changed_path) for changed_path in changed])
            return 1
        print(f"perfbudget generate --check: {len(files)} files up to date")
        return 0
    written = write(files, args.output_dir)
    for written_path in written:
        print(f"wrote {written_path}")
    print(f"perfbudget generate: {len(written)} of {len(files)} files changed")
    return 0
