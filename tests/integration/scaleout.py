"""The scale-out stack, each part a real Debian binary on 127.0.0.1 and free ports, started by the tests.

- VictoriaMetrics single node (`victoria-metrics`), standing in for its cluster version and for Mimir or
  Thanos: they take the same remote-write protocol and answer the same Prometheus query API.
- `vmagent` scraping the exporters and remote-writing to it; `vmalert` evaluating the generated rules
  against it (recording rules written back to it) and notifying Alertmanager.
- An Alertmanager pair, clustered (two peers gossiping their notification log, as an HA pair runs).
- nginx as the load balancer in front of several exporter replicas.

Intervals are short (1 s scrapes and evaluations) so that alerts fire within seconds; VictoriaMetrics is
told not to hold back the newest samples (`-search.latencyOffset=0s`), which it does by default for 30 s.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

from .stack import Server, free_port, wait_http


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (shutil.which(name, path="/usr/sbin:/usr/bin"))
        if found:
            return found
    raise AssertionError(f"{names[0]} is not installed: run scripts/install-test-deps (Debian packages "
                         "victoria-metrics and nginx-light)")


@contextmanager
def _service(name: str, args: Sequence[str], tmp: Path, port: int, ready_path: str) -> Iterator[Server]:
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT, cwd=tmp)
    srv = Server(proc, f"http://127.0.0.1:{port}", port, log)
    try:
        wait_http(f"{srv.url}{ready_path}", 60, proc)
        yield srv
    except BaseException:
        print(f"--- {name} ---\n{srv.output()}", file=sys.stderr)
        raise
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextmanager
def victoria_metrics(tmp: Path) -> Iterator[Server]:
    """A single-node VictoriaMetrics; its Prometheus API is at `url` (/api/v1/query, /api/v1/write)."""
    port = free_port()
    with _service("victoria-metrics", [
        _binary("victoria-metrics"), f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={tmp / 'vm-data'}",
        "-retentionPeriod=1d", "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN",
    ], tmp, port, "/health") as srv:
        yield srv


@contextmanager
def vmagent(tmp: Path, targets: Sequence[str], remote_write: str, interval: str = "1s") -> Iterator[Server]:
    """vmagent scraping each of `targets` (host:port, job perfbudget) and remote-writing to `remote_write`."""
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "vmagent.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": interval, "scrape_timeout": interval},
        "scrape_configs": [{"job_name": "perfbudget", "static_configs": [{"targets": list(targets)}]}],
    }))
    with _service("vmagent", [
        _binary("vmagent"), f"-httpListenAddr=127.0.0.1:{port}", f"-promscrape.config={config}",
        f"-remoteWrite.url={remote_write}/api/v1/write", f"-remoteWrite.tmpDataPath={tmp / 'vmagent-queue'}",
        "-remoteWrite.flushInterval=500ms", "-promscrape.config.strictParse", "-loggerLevel=WARN",
    ], tmp, port, "/health") as srv:
        yield srv


@contextmanager
def vmalert(tmp: Path, rule_files: Sequence[Path], datasource: str, notifiers: Sequence[str],
            interval: str = "1s") -> Iterator[Server]:
    """vmalert evaluating `rule_files` against `datasource` every `interval`, writing recording rules back to
    it (later rules read them there) and sending alerts to every Alertmanager in `notifiers`."""
    port = free_port()
    args = [_binary("vmalert"), f"-httpListenAddr=127.0.0.1:{port}", f"-datasource.url={datasource}",
            f"-remoteWrite.url={datasource}", f"-remoteRead.url={datasource}", f"-evaluationInterval={interval}",
            "-remoteWrite.flushInterval=500ms", "-rule.resendDelay=1s", "-datasource.queryTimeAlignment=false",
            f"-external.url=http://127.0.0.1:{port}", "-loggerLevel=WARN"]
    args += [f"-rule={path}" for path in rule_files]
    args += [f"-notifier.url={url}" for url in notifiers]
    with _service("vmalert", args, tmp, port, "/health") as srv:
        yield srv


@contextmanager
def alertmanager_pair(tmp: Path, config: dict[str, Any]) -> Iterator[tuple[Server, Server]]:
    """Two Alertmanagers with `config`, clustered with each other (gossip on 127.0.0.1)."""
    binary = _binary("prometheus-alertmanager", "alertmanager")
    config_file = tmp / "alertmanager.yml"
    tmp.mkdir(parents=True, exist_ok=True)
    config_file.write_text(yaml.safe_dump(config))
    gossip = [free_port(), free_port()]
    with ExitStack() as stack:
        peers = []
        for i in range(2):
            port = free_port()
            peers.append(stack.enter_context(_service(f"alertmanager-{i}", [
                binary, f"--config.file={config_file}", f"--storage.path={tmp / f'am-{i}'}",
                f"--web.listen-address=127.0.0.1:{port}", f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                f"--cluster.advertise-address=127.0.0.1:{gossip[i]}", f"--cluster.peer=127.0.0.1:{gossip[1 - i]}",
                "--cluster.settle-timeout=2s", "--cluster.pushpull-interval=2s", "--cluster.gossip-interval=100ms",
            ], tmp, port, "/-/ready")))
        yield peers[0], peers[1]


@contextmanager
def nginx(tmp: Path, upstreams: Sequence[str]) -> Iterator[Server]:
    """nginx on a free port balancing round-robin over `upstreams` (host:port); it retries a request on the
    next upstream when one is down, as a load balancer does."""
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"    server {u} max_fails=1 fail_timeout=2s;" for u in upstreams)
    conf = tmp / "nginx.conf"
    conf.write_text(f"""daemon off;
master_process on;
worker_processes 1;
user root;
pid {tmp / 'nginx.pid'};
error_log {tmp / 'nginx-error.log'} warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmp / 'body'};
  proxy_temp_path {tmp / 'proxy'};
  fastcgi_temp_path {tmp / 'fastcgi'};
  uwsgi_temp_path {tmp / 'uwsgi'};
  scgi_temp_path {tmp / 'scgi'};
  upstream perfbudget {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://perfbudget;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header Host $http_host;
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
    }}
  }}
}}
""")
    with _service("nginx", [_binary("nginx"), "-c", str(conf), "-p", str(tmp)], tmp, port, "/-/healthy") as srv:
        yield srv
