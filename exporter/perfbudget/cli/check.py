"""`perfbudget check`: validate the config, budgets and playbooks; every error, non-zero exit."""

from __future__ import annotations

import argparse
import sys

from ..playbooks.store import database_problem
from ..reload import validate_all
from ._common import add_config_flag, config_path, error_header, print_errors, source_name


def configure(check: argparse.ArgumentParser) -> None:
    add_config_flag(check)
    check.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    path = config_path(args)
    config, errors = validate_all(path)
    if errors:
        print_errors(error_header("perfbudget check", errors, path), errors)
        return 1
    problem = database_problem(config) if config is not None else None
    if problem is not None:  # the shared store (database.url) must answer too
        print(f"perfbudget check: {problem}", file=sys.stderr)
        return 1
    print(f"perfbudget check: {source_name(path)}: configuration, budgets and playbooks are valid")
    return 0
