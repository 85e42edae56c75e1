"""The bundled stack without Docker: Prometheus, Alertmanager, the exporter and the demo site on 127.0.0.1.

    scripts/local-stack                      # the default ports: 9090, 9093, 9478, 8080
    scripts/local-stack --free-ports         # any free ports (what the tests use)

It needs Prometheus and Alertmanager binaries on the PATH (Debian: `apt-get install prometheus
prometheus-alertmanager`). It starts them with the repository's own configs: prometheus/prometheus.yml (its
targets pointed at this machine's ports), the generated rules in alertmanager/rules/ and the generated
alertmanager/alertmanager.yml (its webhook pointed at the exporter, the bearer token written to a file only
this user can read). Grafana is not started: point one at the Prometheus it prints, with grafana/provisioning.
Only the perfbudget webhook is kept from the Alertmanager config: its Slack and e-mail receivers cannot
deliver from a laptop. Everything lives under --run-dir (default data/local-stack); the demo site is a copy
there, so the images playbook changes the copy, never the checkout. Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORTS = {"prometheus": 9090, "alertmanager": 9093, "exporter": 9478, "demo": 8080}
# The exporter's environment overrides (the README's configuration section) for what this script sets in
# the exporter's config: an inherited PERFBUDGET_LISTEN_ADDRESS would move the exporter away from the port
# Prometheus scrapes.
_STACK_OWNED_ENV = ("PERFBUDGET_CONFIG", "PERFBUDGET_LISTEN_ADDRESS", "PERFBUDGET_DATA_DIR",
                    "PERFBUDGET_SITE_ROOT", "PERFBUDGET_BUDGETS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit(f"local-stack: none of {', '.join(names)} is on the PATH "
                     "(Debian: apt-get install prometheus prometheus-alertmanager)")


@dataclass
class Stack:
    ports: dict[str, int]
    run_dir: Path
    token: str

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"


def prometheus_config(stack: Stack, rules_dir: Path, interval: str) -> Path:
    """prometheus/prometheus.yml with its targets on this machine's ports and the rules by absolute path."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(rules_dir.resolve() / "*.yml")]
    alertmanagers = config["alerting"]["alertmanagers"][0]["static_configs"][0]
    alertmanagers["targets"] = [f"127.0.0.1:{stack.ports['alertmanager']}"]
    targets = {name: f"127.0.0.1:{stack.ports[service]}"
               for name, service in (("perfbudget", "exporter"), ("prometheus", "prometheus"))}
    for job in config["scrape_configs"]:
        job["static_configs"][0]["targets"] = [targets[job["job_name"]]]
    path = stack.run_dir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _is_perfbudget_webhook(webhook: dict[str, Any]) -> bool:
    return "/api/alertmanager" in str(webhook.get("url", ""))


def local_receivers(config: dict[str, Any]) -> dict[str, set[str]]:
    """Keep only the perfbudget webhook in every receiver; return what was dropped (kind -> receivers).

    Slack, e-mail and the other integrations need credentials and a network this machine does not have; a
    failing integration also makes Alertmanager retry the whole group, which the webhook does not need."""
    dropped: dict[str, set[str]] = {}
    for receiver in config.get("receivers", []):
        for key in [k for k in receiver if k.endswith("_configs")]:
            kept = [w for w in receiver[key] if key == "webhook_configs" and _is_perfbudget_webhook(w)]
            if len(kept) < len(receiver[key]):
                dropped.setdefault(key, set()).add(receiver["name"])
            if kept:
                receiver[key] = kept
            else:
                del receiver[key]
    # Global defaults only those integrations read (smtp_*, slack_api_url, ...): nothing uses them now.
    for key in [k for k in config.get("global", {}) if k != "resolve_timeout" and not k.startswith("http_config")]:
        del config["global"][key]
    return dropped


def alertmanager_config(stack: Stack, source: Path, group_interval: str | None,
                        repeat_interval: str | None) -> Path:
    """The generated alertmanager.yml with only the webhook, on this exporter, the token in a private file."""
    token_file = stack.run_dir / "perfbudget-token"
    token_file.touch(mode=0o600)
    token_file.chmod(0o600)
    token_file.write_text(stack.token)
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    dropped = local_receivers(config)
    if dropped:
        receivers = sorted(set().union(*dropped.values()))
        print(f"  alertmanager: only the perfbudget webhook is kept; dropped {', '.join(sorted(dropped))} "
              f"from {', '.join(receivers)} (they cannot deliver from here)", flush=True)
    for receiver in config.get("receivers", []):
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = f"{stack.url('exporter')}/api/alertmanager"
            authorization = webhook.setdefault("http_config", {}).setdefault("authorization", {})
            authorization.pop("credentials", None)
            authorization["credentials_file"] = str(token_file)
    # Faster grouping and repeats for demos and tests; the generated values suit production.
    route = config["route"]
    if group_interval:
        route["group_wait"] = "1s"
        route["group_interval"] = group_interval
    if repeat_interval:
        route["repeat_interval"] = repeat_interval
    for child in route.get("routes", []):
        for key, given in (("group_wait", group_interval), ("group_interval", group_interval),
                           ("repeat_interval", repeat_interval)):
            if given:
                child.pop(key, None)
    path = stack.run_dir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def wait_ready(url: str, proc: subprocess.Popen[bytes], name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"local-stack: {name} exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"local-stack: {name} did not answer {url} within {timeout:.0f}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def process(name: str, args: list[str], stack: Stack, ready: str, show: str,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Start one server, wait until `ready` answers, and stop it (SIGTERM, then SIGKILL after 20 s) on exit."""
    log = stack.run_dir / f"{name}.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=stack.run_dir, env=env)
        wait_ready(ready, proc, name)
        print(f"  {name:13} {show:30} (log: {log})", flush=True)
        yield proc
    finally:
        if proc is not None:
            _stop(proc)


def exporter_env(stack: Stack, free_ports: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _STACK_OWNED_ENV}
    env["PERFBUDGET_API_TOKEN"] = stack.token
    env["PERFBUDGET_RATE_LIMIT"] = "off" if free_ports else "50/second"
    return env


def _check_web_vitals(stack: Stack) -> None:
    """The demo pages load Google's library from the exporter; without it no page reports anything."""
    try:
        with urllib.request.urlopen(f"{stack.url('exporter')}/web-vitals.attribution.iife.js", timeout=5):
            return
    except OSError:
        pass
    print("local-stack: warning: the exporter cannot serve web-vitals.attribution.iife.js, so the demo pages "
          "will send no beacons: run `npm ci` in the checkout (or set PERFBUDGET_WEB_VITALS_JS to the file)",
          flush=True)


@contextmanager
def local_stack(args: argparse.Namespace) -> Iterator[Stack]:
    """Start the four processes in dependency order; stop them in reverse."""
    alertmanager_bin = binary("prometheus-alertmanager", "alertmanager")
    prometheus_bin = binary("prometheus")
    run_dir: Path = args.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "ports.yml").unlink(missing_ok=True)  # written again once everything answers
    ports = {name: free_port() if args.free_ports else port for name, port in DEFAULT_PORTS.items()}
    stack = Stack(ports, run_dir, os.environ.get("PERFBUDGET_API_TOKEN") or secrets.token_urlsafe(24))
    site = run_dir / "site"
    if not site.exists():
        shutil.copytree(ROOT / "demo" / "site", site)
    config = yaml.safe_load((ROOT / "demo" / "perfbudget.yml").read_text()) or {}
    demo_origin = stack.url("demo")
    config.setdefault("beacons", {})["allowed_origins"] = [demo_origin, demo_origin.replace("127.0.0.1", "localhost")]
    config.setdefault("server", {})["listen_address"] = f"127.0.0.1:{ports['exporter']}"
    config["data_dir"] = str(run_dir / "exporter-data")
    config["site_root"] = str(site)
    if args.budgets:
        config["budgets_file"] = str(args.budgets.resolve())
        if args.rules_dir.resolve() == (ROOT / "alertmanager" / "rules").resolve():
            print("local-stack: warning: --budgets without --rules-dir: Prometheus evaluates the bundled budgets' "
                  "rules; run `perfbudget generate --budgets FILE --output-dir DIR` and pass "
                  "--rules-dir DIR/alertmanager/rules --alertmanager-config DIR/alertmanager/alertmanager.yml",
                  flush=True)
    config_file = run_dir / "perfbudget.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    python = sys.executable
    print(f"perfbudget local stack in {run_dir}:", flush=True)
    with ExitStack() as stop:
        stop.enter_context(process(
            "demo", [python, str(ROOT / "demo" / "serve.py"), "--listen", f"127.0.0.1:{ports['demo']}",
                     "--root", str(site), "--exporter-url", stack.url("exporter"),
                     "--bandwidth", str(args.bandwidth)],
            stack, f"{stack.url('demo')}/", f"{stack.url('demo')}/"))
        stop.enter_context(process(
            "exporter", [python, "-m", "perfbudget", "serve", "--config.file", str(config_file), "--workers", "2"],
            stack, f"{stack.url('exporter')}/-/ready", f"{stack.url('exporter')}/",
            exporter_env(stack, args.free_ports)))
        _check_web_vitals(stack)
        am_config = alertmanager_config(stack, args.alertmanager_config, args.group_interval, args.repeat_interval)
        stop.enter_context(process(
            "alertmanager",
            [alertmanager_bin, f"--config.file={am_config}",
             f"--storage.path={run_dir / 'alertmanager-data'}",
             f"--web.listen-address=127.0.0.1:{ports['alertmanager']}", "--cluster.listen-address="],
            stack, f"{stack.url('alertmanager')}/-/ready", f"{stack.url('alertmanager')}/"))
        stop.enter_context(process(
            "prometheus",
            [prometheus_bin, f"--config.file={prometheus_config(stack, args.rules_dir, args.interval)}",
             f"--storage.tsdb.path={run_dir / 'prometheus-data'}",
             f"--web.listen-address=127.0.0.1:{ports['prometheus']}", "--rules.alert.resend-delay=1s"],
            stack, f"{stack.url('prometheus')}/-/ready", f"{stack.url('prometheus')}/"))
        (run_dir / "ports.yml").write_text(yaml.safe_dump({"ports": ports, "pid": os.getpid()}))
        yield stack


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--free-ports", action="store_true", help="use free ports instead of 9090/9093/9478/8080")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "data" / "local-stack")
    parser.add_argument("--rules-dir", type=Path, default=ROOT / "alertmanager" / "rules",
                        help="Prometheus rule files (default: the generated alertmanager/rules)")
    parser.add_argument("--alertmanager-config", type=Path, default=ROOT / "alertmanager" / "alertmanager.yml")
    parser.add_argument("--budgets", type=Path, help="budgets file for the exporter (default: the bundled one)")
    parser.add_argument("--interval", default="15s", help="Prometheus scrape and evaluation interval")
    parser.add_argument("--group-interval", help="Alertmanager group interval (default: the generated config's)")
    parser.add_argument("--repeat-interval", help="Alertmanager repeat interval (default: the generated config's)")
    parser.add_argument("--bandwidth", type=int, default=500_000, help="demo images' bytes per second")
    return parser


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM and SIGINT unwind the stack (stopping every process in reverse order), also during start-up;
    a second signal cannot interrupt that cleanup."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> int:
    args = build_parser().parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        with local_stack(args) as stack:
            print(f"\nOpen the demo shop at {stack.url('demo')}/ and the exporter's console at "
                  f"{stack.url('exporter')}/.\nThe webhook token is in {stack.run_dir / 'perfbudget-token'}. "
                  "Ctrl-C (or SIGTERM) stops everything.", flush=True)
            try:
                while True:
                    time.sleep(3600)
            finally:
                print("\nlocal-stack: stopping", flush=True)
    except KeyboardInterrupt:
        pass
    print("local-stack: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
