"""Real processes for integration tests: the exporter (`perfbudget serve`), Prometheus and Alertmanager.

Every server binds 127.0.0.1 on a free port chosen by the kernel and is stopped by its context manager.
Use one stack per test module (a module-scoped fixture), not one per test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PERFBUDGET = [sys.executable, "-m", "perfbudget"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `url` answers 2xx; fail early with the process's output if it died."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last}")


def http(method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None,
         timeout: float = 10.0) -> tuple[int, Any]:
    """(status, decoded JSON or text) without raising on 4xx/5xx."""
    data = None
    all_headers = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, ctype = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    if "json" in ctype:
        return status, json.loads(raw)
    return status, raw.decode(errors="replace")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def exporter(
    tmp: Path,
    *,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    workers: int = 2,
    server: str = "granian",
    dev: bool = False,
    port: int | None = None,
) -> Iterator[Server]:
    """`perfbudget serve` as a user runs it, on a free port, with its data under `tmp`."""
    port = port or free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    data = dict(config or {})
    data.setdefault("data_dir", str(tmp / "data"))
    config_file = tmp / "perfbudget.yml"
    config_file.write_text(yaml.safe_dump(data))
    log = tmp / "exporter.log"
    args = [*PERFBUDGET, "serve", "--config.file", str(config_file),
            "--web.listen-address", f"127.0.0.1:{port}"]
    args += ["--dev"] if dev else ["--workers", str(workers), "--server", server]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PERFBUDGET_", "PROMETHEUS_"))}
    full_env.update(env or {})
    full_env.setdefault("PERFBUDGET_RATE_LIMIT", "off")
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=tmp)
    srv = Server(proc, f"http://127.0.0.1:{port}", port, log)
    try:
        wait_http(f"{srv.url}/-/ready", 60, proc)
        yield srv
    except BaseException:
        print(srv.output(), file=sys.stderr)
        raise
    finally:
        _stop(proc)


@contextmanager
def prometheus(
    tmp: Path,
    scrape_targets: list[str],
    *,
    rule_files: list[Path] = (),  # type: ignore[assignment]
    alertmanager_url: str | None = None,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
) -> Iterator[Server]:
    """Debian's Prometheus on a free port, scraping `scrape_targets` (host:port) at `scrape_interval`."""
    binary = shutil.which("prometheus")
    assert binary, "Prometheus is not installed: run scripts/install-test-deps (Debian package 'prometheus')"
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "scrape_configs": [{"job_name": "perfbudget", "static_configs": [{"targets": scrape_targets}]}],
        "rule_files": [str(p) for p in rule_files],
    }
    if alertmanager_url:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_url]}]}]}
    config_file = tmp / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={config_file}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--rules.alert.resend-delay=1s",
             "--web.enable-lifecycle"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    srv = Server(proc, f"http://127.0.0.1:{port}", port, log)
    try:
        wait_http(f"{srv.url}/-/ready", 60, proc)
        yield srv
    except BaseException:
        print(srv.output(), file=sys.stderr)
        raise
    finally:
        _stop(proc)


@contextmanager
def alertmanager(tmp: Path, config_file: Path) -> Iterator[Server]:
    """Debian's Alertmanager with clustering off, on a free port."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "Alertmanager is not installed: run scripts/install-test-deps (prometheus-alertmanager)"
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "alertmanager.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={config_file}", f"--storage.path={tmp / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=out, stderr=subprocess.STDOUT,
        )
    srv = Server(proc, f"http://127.0.0.1:{port}", port, log)
    try:
        wait_http(f"{srv.url}/-/ready", 60, proc)
        yield srv
    except BaseException:
        print(srv.output(), file=sys.stderr)
        raise
    finally:
        _stop(proc)


def prom_query(prom: Server, query: str) -> dict[str, Any]:
    """An instant query; returns Prometheus's `data` or raises with its error."""
    url = f"{prom.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    status, body = http("GET", url)
    if status != 200 or body.get("status") != "success":
        raise AssertionError(f"query {query!r} failed: {status} {body}")
    data: dict[str, Any] = body["data"]
    return data


def wait_for(predicate: Any, timeout: float, interval: float = 0.25, what: str = "condition") -> Any:
    """Poll `predicate()` until it returns something truthy; return that, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not met within {timeout}s")


def beacon(name: str, value: float, metric_id: str, page: str = "http://shop.test/", **extra: Any) -> dict[str, Any]:
    """A web-vitals Metric object as beacon.js sends it."""
    return {"name": name, "value": value, "delta": value, "id": metric_id, "rating": "good",
            "navigationType": "navigate", "pageUrl": page, **extra}



def workers(srv: Server) -> set[int]:
    """The server's worker processes (granian's), its children as /proc lists them."""
    pids: set[int] = set()
    for task in Path(f"/proc/{srv.proc.pid}/task").glob("*"):
        try:
            pids |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            continue
    return pids


def kill_one_worker(srv: Server, answers: Any = None) -> int:
    """SIGKILL one of two workers, wait for granian to respawn it and for `answers()` (default: /-/healthy
    is 200) to hold; the master must still run. Returns the killed pid."""
    wait_for(lambda: len(workers(srv)) == 2, 60, what="two workers")
    victim = min(workers(srv))
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(workers(srv) - {victim}) == 2, 30, what="a worker respawned")
    wait_for(answers or (lambda: http("GET", f"{srv.url}/-/healthy")[0] == 200), 30, what="the server answers")
    assert srv.proc.poll() is None, srv.output()
    return victim


def dry_run(srv: Server, playbook: str, timeout: float = 60) -> dict[str, Any]:
    """Start a dry run of `playbook` through POST /api/perf-fix and return the run once it has ended."""
    # The answer may wait up to playbooks.answer_wait_seconds (10 s) for the run: a longer timeout than that.
    status, body = http("POST", f"{srv.url}/api/perf-fix", {"playbookId": playbook, "dryRun": True}, timeout=30)
    assert status in (200, 202), body  # 200 when it ended within playbooks.answer_wait_seconds

    def ended() -> dict[str, Any] | None:
        status, run = http("GET", f"{srv.url}/api/perf-fix/runs/{body['id']}")
        assert status == 200, run
        return run if run["state"] in ("succeeded", "failed") else None

    run: dict[str, Any] = wait_for(ended, timeout, what=f"the {playbook} dry run to end")
    return run


def trickle_beacon(port: int, stop: threading.Event, sent: list[int] | None = None) -> None:
    """A slow client: a beacon body sent a byte every 0.2 s until `stop` (the server may drop it: that is
    allowed); `sent[0]` counts the bytes sent after the headers."""
    body = json.dumps([beacon("LCP", 1000, f"slow-{threading.get_ident()}")]).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /api/web-vitals HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode())
        for byte in body[:-1]:
            if stop.wait(0.2):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return
            if sent is not None:
                sent[0] += 1


def webhook_alertmanager_config(exporter_url: str, token: str, repeat_interval: str) -> dict[str, Any]:
    """An Alertmanager config that sends every alert, resolved ones too, to the exporter's webhook at once."""
    return {
        "route": {"receiver": "perfbudget", "group_by": ["alertname", "route"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": repeat_interval},
        "receivers": [{"name": "perfbudget", "webhook_configs": [{
            "url": f"{exporter_url}/api/alertmanager", "send_resolved": True, "max_alerts": 0,
            "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
        }]}],
    }
