"""`perfbudget playbooks list | show ID | run ID [--execute] | rollback RUN_ID`.

Runs made here go to the same audit log as the server's (data_dir), marked as started from the command
line; progress lines go to stderr and the run's JSON to stdout, so the output can be piped to `jq`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from ..config import Config, ConfigError, load_config
from ..playbooks import build_runner
from ..playbooks.actions import ActionError
from ..playbooks.model import Playbooks, load_playbooks
from ..web.runs import run_json
from ._common import add_config_flag, config_path, print_errors, progress


def configure(playbooks: argparse.ArgumentParser) -> None:
    commands = playbooks.add_subparsers(dest="playbooks_command", required=True, metavar="SUBCOMMAND")

    listing = commands.add_parser("list", help="every playbook with its metric, impact and effort")
    add_config_flag(listing)
    listing.add_argument("--metric", help="only playbooks for this metric (LCP, INP, ...)")
    listing.set_defaults(func=list_command)

    show = commands.add_parser("show", help="one playbook in full")
    add_config_flag(show)
    show.add_argument("id", metavar="ID")
    show.set_defaults(func=show_command)

    run = commands.add_parser("run", help="run a playbook now: a dry run unless --execute")
    add_config_flag(run)
    run.add_argument("id", metavar="ID")
    run.add_argument("--execute", action="store_true",
                     help="apply the automated actions within playbooks.max_risk (the playbook must be listed "
                          "in playbooks.execute)")
    run.add_argument("--route", help="the route label to look at (attribution, verification)")
    run.set_defaults(func=run_command)

    rollback = commands.add_parser("rollback", help="undo what an execute run applied")
    add_config_flag(rollback)
    rollback.add_argument("run_id", metavar="RUN_ID")
    rollback.set_defaults(func=rollback_command)


def _load(args: argparse.Namespace) -> tuple[Config, Playbooks]:
    config = load_config(config_path(args))
    return config, load_playbooks(config)


def _errors(command: str, exc: ConfigError) -> int:
    print_errors(f"perfbudget playbooks {command}: {len(exc.errors)} error(s):", exc.errors)
    return 1


def list_command(args: argparse.Namespace) -> int:
    try:
        _, books = _load(args)
    except ConfigError as exc:
        return _errors("list", exc)
    rows = [
        (b.id, "/".join(b.spec.metric), b.spec.impact, b.spec.effort, str(len(b.spec.actions)), b.spec.name)
        for b in books.values()
        if not args.metric or args.metric.upper() in (m.upper() for m in b.spec.metric)
    ]
    header = ("ID", "METRIC", "IMPACT", "EFFORT", "ACTIONS", "NAME")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def show_command(args: argparse.Namespace) -> int:
    try:
        _, books = _load(args)
    except ConfigError as exc:
        return _errors("show", exc)
    book = books.get(args.id)
    if book is None:
        print(f"perfbudget playbooks show: no playbook {args.id!r}; known: {', '.join(books)}", file=sys.stderr)
        return 2
    detail = book.spec.summary()
    detail["source"] = book.source
    for action, params in zip(detail["actions"], book.params, strict=True):
        action["params"] = params.model_dump(mode="json")
    print(json.dumps(detail, indent=2))
    return 0


def run_command(args: argparse.Namespace) -> int:
    try:
        config, books = _load(args)
    except ConfigError as exc:
        return _errors("run", exc)
    if args.id not in books:
        print(f"perfbudget playbooks run: no playbook {args.id!r}; known: {', '.join(books)}", file=sys.stderr)
        return 2
    if args.execute and args.id not in config.playbooks.execute:
        print(f"perfbudget playbooks run: {args.id} may not execute: list it in playbooks.execute in the config",
              file=sys.stderr)
        return 2
    runner = build_runner(config, books)
    trigger = {"type": "cli", "user": getpass.getuser()}
    # The person at the terminal who typed --execute approves the actions up to playbooks.max_risk.
    run = runner.submit_manual(args.id, execute=args.execute, auto_approve=args.execute, trigger=trigger,
                               route=args.route)
    progress(f"{args.id}: run {run.id} ({run.mode}) recorded in {runner.store.location}")
    try:
        run = runner.run_now(run.id, progress)
    except ActionError as exc:
        print(f"perfbudget playbooks run: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(run_json(runner, run), indent=2))
    return 0 if run.state == "succeeded" else 1


def rollback_command(args: argparse.Namespace) -> int:
    try:
        config, books = _load(args)
    except ConfigError as exc:
        return _errors("rollback", exc)
    runner = build_runner(config, books)
    try:
        run = runner.rollback(args.run_id, progress)
    except ActionError as exc:
        print(f"perfbudget playbooks rollback: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(run_json(runner, run), indent=2))
    return 0 if run.state == "rolled-back" else 1
