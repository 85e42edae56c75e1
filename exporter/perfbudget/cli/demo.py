"""`perfbudget demo`: the whole product in one command.

The bundled demo shop (perfbudget/demoshop.py) on one port, the exporter (`perfbudget serve`'s own code, so
the real server with its workers) on another, with a COPY of the shop as the site root, so the console's
Dry run and Execute change that copy and never the checkout or the installed package. It prints the shop's
URL, the console's URL and the token Execute needs: one generated for the session unless one is configured.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from ..config import Config
from ..config.env import API_TOKEN_ENV, DATA_DIR_ENV, SITE_ROOT_ENV, WEB_VITALS_JS_ENV
from ..demoshop import DEFAULT_BANDWIDTH, site_directory
from ..server.lifecycle import address_in_use
from ..web.ops import web_vitals_script
from ._common import add_config_flag, config_path
from .serve import serve_command

SHOP_ADDRESS = "127.0.0.1:8080"
EXPORTER_ADDRESS = "127.0.0.1:9478"
#: The playbooks the demo lets Execute run (the embedded defaults let none): those that change the shop.
DEMO_EXECUTE = ["optimize-images", "layout-stability"]


def configure(demo: argparse.ArgumentParser) -> None:
    add_config_flag(demo)
    demo.add_argument("--shop.listen-address", dest="shop_address", metavar="HOST:PORT", default=SHOP_ADDRESS,
                      help=f"the demo shop's address (default {SHOP_ADDRESS})")
    demo.add_argument("--web.listen-address", dest="listen_address", metavar="HOST:PORT", default=EXPORTER_ADDRESS,
                      help=f"the exporter's address (default {EXPORTER_ADDRESS})")
    demo.add_argument("--free-ports", action="store_true",
                      help="pick free ports on 127.0.0.1 for both instead of the addresses above (for tests)")
    demo.add_argument("--workers", type=int, default=2, help="exporter worker processes (default 2)")
    demo.add_argument("--bandwidth", type=int, default=DEFAULT_BANDWIDTH,
                      help=f"bytes per second for the shop's images (default {DEFAULT_BANDWIDTH}); 0 = unthrottled")
    demo.add_argument("--dir", type=Path, metavar="DIR",
                      help="where the shop's copy and the exporter's data go, kept at exit "
                           "(default: a new temporary directory, removed at exit)")
    demo.set_defaults(func=demo_command)


def _free_address() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _busy(what: str, address: str, flag: str) -> str | None:
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return f"perfbudget demo: {flag} {address}: must be HOST:PORT"
    busy = address_in_use(host.strip("[]") or "0.0.0.0", int(port))
    if busy is None:
        return None
    return f"perfbudget demo: {what} {address}: {busy}; choose another with {flag}, or pass --free-ports"


def _browser_url(address: str) -> str:
    host, _, port = address.rpartition(":")
    return f"http://{'127.0.0.1' if host in ('', '0.0.0.0', '[::]') else host}:{port}"


def _demo_config(workdir: Path, site: Path) -> Path:
    """The embedded defaults, plus what the demo needs: its site root, its data, Execute for its playbooks."""
    path = workdir / "perfbudget.yml"
    path.write_text(yaml.safe_dump({
        "data_dir": str(workdir / "data"),
        "site_root": str(site),
        "playbooks": {"execute": DEMO_EXECUTE},
    }, sort_keys=False))
    return path


def demo_command(args: argparse.Namespace) -> int:
    shop_address = _free_address() if args.free_ports else args.shop_address
    exporter_address = _free_address() if args.free_ports else args.listen_address
    for what, address, flag in (("the shop's address", shop_address, "--shop.listen-address"),
                                ("the exporter's address", exporter_address, "--web.listen-address")):
        error = _busy(what, address, flag)
        if error:
            print(error, file=sys.stderr)
            return 1
    temporary = args.dir is None
    workdir = Path(tempfile.mkdtemp(prefix="perfbudget-demo-")) if temporary else args.dir.resolve()
    site = workdir / "site"
    if not site.is_dir():
        shutil.copytree(site_directory(), site)
    given = config_path(args)
    if given is not None:  # the user's config, still on the shop's copy and the demo's data
        os.environ[SITE_ROOT_ENV], os.environ[DATA_DIR_ENV] = str(site), str(workdir / "data")
    config_file = given or _demo_config(workdir, site)
    generated = None
    if not os.environ.get(API_TOKEN_ENV) and given is None:
        generated = secrets.token_urlsafe(24)
        os.environ[API_TOKEN_ENV] = generated  # the workers inherit it; it is never written to disk
    shop_url, console_url = _browser_url(shop_address), _browser_url(exporter_address)
    shop = subprocess.Popen([
        sys.executable, "-m", "perfbudget.demoshop", "--listen", shop_address, "--root", str(site),
        "--exporter-url", console_url, "--bandwidth", str(args.bandwidth),
    ], stdout=subprocess.DEVNULL)

    def ready(config: Config) -> None:
        token = generated or "the one configured (PERFBUDGET_API_TOKEN or auth.tokens)"
        print(
            "perfbudget demo: visit the shop, then watch its vitals in the console; Dry run and Execute there "
            f"change only the copy in {config.site_root}\n"
            f"  shop:    {shop_url}/\n"
            f"  console: {console_url}/\n"
            f"  token:   {token}\n"
            f"  data:    {config.data_dir}" + ("" if not temporary else " (removed at exit; keep it with --dir)"),
            flush=True,
        )
        if web_vitals_script() is None:
            print(f"perfbudget demo: warning: Google's web-vitals library is not available here, so the shop's "
                  f"pages report nothing: install the npm package web-vitals and set {WEB_VITALS_JS_ENV} to its "
                  "dist/web-vitals.attribution.iife.js", file=sys.stderr, flush=True)

    serve_args = argparse.Namespace(config_file=config_file, listen_address=exporter_address,
                                    workers=args.workers, server=None, dev=False)
    try:
        return serve_command(serve_args, ready)
    finally:
        shop.terminate()
        try:
            shop.wait(10)
        except subprocess.TimeoutExpired:
            shop.kill()
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
