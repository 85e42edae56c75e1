"""`perfbudget serve` and `perfbudget check`."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from .config import CONFIG_ENV, Config, ConfigError, load_config


def add_parsers(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the exporter (production server with several workers)")
    _config_flag(serve)
    serve.add_argument("--web.listen-address", dest="listen_address", metavar="HOST:PORT",
                       help="address to listen on (default from the config: 127.0.0.1:9478)")
    serve.add_argument("--workers", type=int, help="worker processes (default: the number of cores, at least 2)")
    serve.add_argument("--server", choices=("granian", "gunicorn", "gunicorn-gthread"),
                       help="production server (default: granian)")
    serve.add_argument("--dev", action="store_true", help="Flask's development server, one process")
    serve.set_defaults(func=serve_command)

    check = sub.add_parser("check", help="validate the config, budgets and playbooks; non-zero exit on errors")
    _config_flag(check)
    check.set_defaults(func=check_command)


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config.file", dest="config_file", type=Path, metavar="FILE",
                        help=f"YAML configuration (default: ${CONFIG_ENV}, else the embedded defaults)")


def _config_path(args: argparse.Namespace) -> Path | None:
    if args.config_file is not None:
        return Path(args.config_file)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else None


def validate_all(path: Path | None) -> tuple[Config | None, list[str]]:
    """Config, budgets and playbooks: every error of every file, or the config when all are valid."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        return None, exc.errors
    errors: list[str] = []
    from .budgets.model import load_budgets

    try:
        load_budgets(config.budgets_file)
    except ConfigError as exc:
        errors += exc.errors
    try:
        from .playbooks.model import load_playbooks
    except ImportError:
        pass
    else:
        try:
            load_playbooks(config)
        except ConfigError as exc:
            errors += exc.errors
    return config, errors


def check_command(args: argparse.Namespace) -> int:
    path = _config_path(args)
    _, errors = validate_all(path)
    source = str(path) if path else "embedded defaults"
    if errors:
        print(f"perfbudget check: {len(errors)} error(s) in {source}:", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    print(f"perfbudget check: {source}: configuration, budgets and playbooks are valid")
    return 0


def serve_command(args: argparse.Namespace) -> int:
    path = _config_path(args)
    overrides = {
        "PERFBUDGET_LISTEN_ADDRESS": args.listen_address,
        "PERFBUDGET_WORKERS": str(args.workers) if args.workers else None,
    }
    for name, value in overrides.items():
        if value:
            os.environ[name] = value
    config, errors = validate_all(path)
    if config is None or errors:
        print("perfbudget serve: refusing to start:", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    if path is not None:
        os.environ[CONFIG_ENV] = str(path.resolve())
    server = args.server or config.server.server
    busy = _address_in_use(config.server.host, config.server.port)
    if busy is not None:
        print(f"perfbudget serve: refusing to start: {config.server.listen_address}: {busy}", file=sys.stderr)
        return 1
    _prepare_data_dir(config)
    if args.dev:
        return _serve_dev(config, path)
    multiproc, ours = _fresh_multiprocess_dir()
    os.environ["PERFBUDGET_EPOCH"] = uuid.uuid4().hex
    os.environ["PERFBUDGET_MASTER_PID"] = str(os.getpid())
    print(
        f"perfbudget: {server} with {config.server.workers} workers on http://{config.server.listen_address}/ "
        f"(metrics at /metrics, beacons at /api/web-vitals)",
        file=sys.stderr, flush=True,
    )
    try:
        if server.startswith("gunicorn"):
            from .serving import run_gunicorn

            run_gunicorn(config, "gthread" if server == "gunicorn-gthread" else "sync")
        else:
            from .serving import run_granian

            run_granian(config)
    finally:
        if ours:
            shutil.rmtree(multiproc, ignore_errors=True)
    return 0


def _address_in_use(host: str, port: int) -> str | None:
    """Why the address cannot be taken, or None. granian binds with SO_REUSEPORT, so without this check a
    second server on a busy port would start silently and take half of the first one's beacons."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine, a listener is not
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"{exc.strerror} (is another perfbudget or another server listening there?)"
    return None


def _prepare_data_dir(config: Config) -> None:
    """Work that must happen once per start, before any worker: compaction and crash recovery."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    from .attribution import compact

    compact(config.data_dir / "attribution", config.beacons.attribution_top_k)
    try:
        from .playbooks.store import recover_interrupted
    except ImportError:
        return
    recover_interrupted(config)


def _fresh_multiprocess_dir() -> tuple[str, bool]:
    """client_python's multiprocess directory, emptied of our files at start (stale ones would double count),
    and whether we made it (and so remove it at exit)."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        shared = Path(configured)
        shared.mkdir(parents=True, exist_ok=True)
        # Only what client_python and perfbudget write there: the directory may be shared with other files.
        for stale in [*shared.glob("*.db"), shared / "dedup.bin", shared / "routes.bin"]:
            stale.unlink(missing_ok=True)
        return configured, False
    made = tempfile.mkdtemp(prefix="perfbudget-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made, True


class _Reloadable:
    """The development server's app, rebuilt whole from the new config on `POST /-/reload`.

    (The production server reloads by restarting its workers on SIGHUP instead.) The new app gets a new
    registry, so counters restart from zero, which Prometheus handles as a counter reset.
    """

    def __init__(self, config: Config, path: Path | None) -> None:
        self._path = path
        self.app = self._build(config)

    def _build(self, config: Config) -> Any:
        from .app import EXTENSION, create_app

        app = create_app(config, config_file=self._path)
        app.extensions[EXTENSION].swap = self.swap
        return app

    def swap(self, config: Config) -> None:
        from .app import EXTENSION

        old, self.app = self.app, self._build(config)
        old.extensions[EXTENSION].close()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


def _serve_dev(config: Config, path: Path | None) -> int:
    from werkzeug.serving import run_simple

    print(f"perfbudget: development server on http://{config.server.listen_address}/", file=sys.stderr)
    run_simple(config.server.host, config.server.port, _Reloadable(config, path), threaded=True)
    return 0
