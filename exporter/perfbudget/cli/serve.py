"""`perfbudget serve`: validate everything, then run the production server (or Flask's, with --dev)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from ..budgets.publish import publish, rules_dir_problem
from ..config import Config
from ..config.env import CONFIG_ENV, EPOCH_ENV, LISTEN_ADDRESS_ENV, MASTER_PID_ENV, RUN_DIR_ENV, WORKERS_ENV
from ..config.errors import ConfigError
from ..config.server import ServerConfig
from ..db import DatabaseUnreachable
from ..reload import validate_all
from ..server.lifecycle import address_in_use, fresh_multiprocess_dir, prepare_data_dir
from ..server.snapshot import write_snapshot
from ._common import add_config_flag, config_path, error_header, print_errors


def configure(serve: argparse.ArgumentParser) -> None:
    add_config_flag(serve)
    serve.add_argument("--web.listen-address", dest="listen_address", metavar="HOST:PORT",
                       help="address to listen on (default from the config: 127.0.0.1:9478)")
    serve.add_argument("--workers", type=int, help="worker processes (default: the number of cores, at least 2)")
    serve.add_argument("--server", choices=("granian", "gunicorn", "gunicorn-gthread"),
                       help="production server (default: granian)")
    serve.add_argument("--dev", action="store_true", help="Flask's development server, one process")
    serve.set_defaults(func=serve_command)


def flag_errors(args: argparse.Namespace) -> list[str]:
    """The server flags' own errors, naming the flag (they reach the config as environment overrides, whose
    errors would name a variable nobody set)."""
    flags = {"--web.listen-address": ("listen_address", args.listen_address), "--workers": ("workers", args.workers)}
    errors = []
    for flag, (field, value) in flags.items():
        if value is None:
            continue
        try:
            ServerConfig.model_validate({field: value})
        except ValidationError as exc:
            errors.append(f"{flag} {value}: {exc.errors(include_url=False)[0]['msg'].removeprefix('Value error, ')}")
    return errors


def serve_command(args: argparse.Namespace, ready: Callable[[Config], None] | None = None) -> int:
    """`ready`, when given, is called with the validated config right before the server starts."""
    path = config_path(args)
    bad_flags = flag_errors(args)
    if bad_flags:
        print_errors("perfbudget serve: refusing to start: bad flags:", bad_flags)
        return 2
    overrides = {
        LISTEN_ADDRESS_ENV: args.listen_address,
        WORKERS_ENV: str(args.workers) if args.workers else None,
    }
    for name, value in overrides.items():
        if value:
            os.environ[name] = value
    config, errors = validate_all(path)
    if config is None or errors:
        print_errors(error_header("perfbudget serve: refusing to start", errors, path), errors)
        return 1
    if path is not None:
        os.environ[CONFIG_ENV] = str(path.resolve())
    server = args.server or config.server.server
    busy = address_in_use(config.server.host, config.server.port)
    if busy is not None:
        print(f"perfbudget serve: refusing to start: {config.server.listen_address}: {busy}", file=sys.stderr)
        return 1
    try:
        prepare_data_dir(config)
    except DatabaseUnreachable as exc:  # the shared store (database.url): named without its password
        print(f"perfbudget serve: refusing to start: {exc}", file=sys.stderr)
        return 1
    if config.prometheus.rules_dir is not None:  # the rules in force follow the budgets in force from the start
        problem = rules_dir_problem(config)
        if problem is not None:
            print(f"perfbudget serve: refusing to start: {problem}", file=sys.stderr)
            return 1
        try:
            published = publish(config)
        except (OSError, ConfigError) as exc:
            print(f"perfbudget serve: refusing to start: writing the rules into {config.prometheus.rules_dir}: "
                  f"{exc}", file=sys.stderr)
            return 1
        print(f"perfbudget serve: rules written to {published.rules_dir} ({', '.join(published.files)}); "
              f"Prometheus: {published.prometheus}", file=sys.stderr, flush=True)
    if args.dev:
        from ..server.dev import run_dev  # Flask's development server: only when asked for

        if ready is not None:
            ready(config)
        return run_dev(config, path)
    multiproc, ours = fresh_multiprocess_dir()
    # The workers build from this snapshot of what was just validated, never from the files themselves.
    run_dir = Path(tempfile.mkdtemp(prefix="perfbudget-run-"))
    errors = write_snapshot(run_dir, path, validate_all)
    if errors:
        shutil.rmtree(run_dir, ignore_errors=True)
        print_errors(error_header("perfbudget serve: refusing to start", errors, path), errors)
        return 1
    os.environ[RUN_DIR_ENV] = str(run_dir)
    os.environ[EPOCH_ENV] = uuid.uuid4().hex
    os.environ[MASTER_PID_ENV] = str(os.getpid())
    print(
        f"perfbudget: {server} with {config.server.workers} workers on http://{config.server.listen_address}/ "
        f"(metrics at /metrics, beacons at /api/web-vitals)",
        file=sys.stderr, flush=True,
    )
    if ready is not None:
        ready(config)
    try:
        if server.startswith("gunicorn"):
            from ..server.gunicorn import run_gunicorn

            run_gunicorn(config, "gthread" if server == "gunicorn-gthread" else "sync")
        else:
            from ..server.granian import run_granian

            run_granian(config)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        if ours:
            shutil.rmtree(multiproc, ignore_errors=True)
    return 0
