"""`perfbudget check`: validate the config, budgets and playbooks; every error, non-zero exit."""

from __future__ import annotations

import argparse

from ..reload import validate_all
from ._common import add_config_flag, config_path, print_errors


def configure(check: argparse.ArgumentParser) -> None:
    add_config_flag(check)
    check.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    path = config_path(args)
    _, errors = validate_all(path)
    source = str(path) if path else "embedded defaults"
    if errors:
        print_errors(f"perfbudget check: {len(errors)} error(s) in {source}:", errors)
        return 1
    print(f"perfbudget check: {source}: configuration, budgets and playbooks are valid")
    return 0
