"""Past one machine, every part real: three `perfbudget serve` replicas on one PostgreSQL, behind nginx;
vmagent scraping each replica and remote-writing to VictoriaMetrics; vmalert evaluating the generated rules
there and notifying a clustered Alertmanager pair, whose webhook goes to the load balancer, so to any
replica (and, on an error, to the next one: nginx retries the POST).

- A slow page view ends in exactly one optimize-images run, whichever replicas the beacons, the
  deliveries and the repeats reach, and every replica lists the same run.
- The same Alertmanager payload posted to two replicas at the same moment (what an HA pair's gossip usually
  hides, and what a load balancer's retry does) gives one run too.
- Every replica's summary counts what all of them received (read from VictoriaMetrics).
- The dashboards' queries run against VictoriaMetrics and the web-vitals ones return data.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from perfbudget.budgets import naming
from perfbudget.budgets.generate import generate_files, write
from perfbudget.budgets.model import load_budgets

from .browser import photo_jpeg
from .dashboards import dashboard_queries
from .postgres import postgres_server
from .scaleout import alertmanager_pair, nginx, victoria_metrics, vmagent, vmalert
from .stack import Server, beacon, exporter, http, prom_query, wait_for, webhook_alertmanager_config

pytestmark = pytest.mark.integration
TOKEN = "scaleout-webhook-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Every beacon comes from 127.0.0.1: one distinct client, so min_clients 1.
BUDGETS: dict[str, Any] = {"vitals": [
    {"metric": "LCP", "name": "lcp-slow-pages", "route": "/slow.*", "target": 3000, "window": "1m",
     "min_samples": 3, "min_clients": 1, "for": "0s", "severity": "warning"},
]}


@dataclass
class Stack:
    replicas: list[Server]
    lb: Server
    vm: Server
    alerts: Server
    managers: tuple[Server, Server]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("scaleout")
    site = tmp / "site"  # the site root every replica shares (shared storage in a real deployment)
    (site / "img").mkdir(parents=True)
    (site / "img" / "hero.jpg").write_bytes(photo_jpeg(1600, 1000, seed=11))
    (site / "slow.html").write_text('<html><body><img src="/img/hero.jpg"></body></html>')
    budgets_file = tmp / "budgets.yaml"
    budgets_file.write_text(yaml.safe_dump(BUDGETS))
    out = tmp / "generated"
    write(generate_files(load_budgets(budgets_file, env={}), "test"), out)
    rule_files = sorted((out / naming.RULES_DIR).glob("*.yml"))
    with ExitStack() as started:
        database = started.enter_context(postgres_server()).create_database("scaleout")
        vm = started.enter_context(victoria_metrics(tmp / "vm"))
        # The replicas' summaries read VictoriaMetrics (its Prometheus query API): prometheus.summary is `auto`,
        # and with a shared database that means every replica's counts.
        config = {"auth": {"tokens": [{"name": "alertmanager", "token": TOKEN, "scopes": ["webhook", "read"]}]},
                  "site_root": str(site), "budgets_file": str(budgets_file), "prometheus": {"url": vm.url}}
        replicas = [started.enter_context(exporter(tmp / f"replica-{i}", workers=1, config=config,
                                                   env={"PERFBUDGET_DATABASE_URL": database}))
                    for i in range(3)]
        lb = started.enter_context(nginx(tmp / "nginx", [f"127.0.0.1:{r.port}" for r in replicas]))
        started.enter_context(vmagent(tmp / "vmagent", [f"127.0.0.1:{r.port}" for r in replicas], vm.url))
        managers = started.enter_context(alertmanager_pair(
            tmp / "alertmanager", webhook_alertmanager_config(lb.url, TOKEN, repeat_interval="2s")))
        alerts = started.enter_context(vmalert(tmp / "vmalert", rule_files, vm.url, [m.url for m in managers]))
        yield Stack(replicas, lb, vm, alerts, managers)


def _runs(srv: Server, playbook: str) -> list[dict[str, Any]]:
    status, body = http("GET", f"{srv.url}/api/perf-fix/runs?playbook={playbook}", headers=AUTH)
    assert status == 200, body
    runs: list[dict[str, Any]] = body["runs"]
    return runs


def _send_slow(stack: Stack, prefix: str, count: int) -> None:
    """`count` slow page views of /slow.html through the load balancer (round-robin over the replicas)."""
    for i in range(count):
        batch = [beacon("LCP", 3800.0, f"{prefix}-{i}", page="http://shop.test/slow.html")]
        status, body = http("POST", f"{stack.lb.url}/api/web-vitals", batch)
        assert status == 200, body


def _detail(srv: Server, run_id: str) -> dict[str, Any]:
    status, body = http("GET", f"{srv.url}/api/perf-fix/runs/{run_id}", headers=AUTH)
    assert status == 200, body
    return dict(body)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_slow_page_view_ends_in_exactly_one_run_whichever_replica_gets_what(stack: Stack) -> None:
    _send_slow(stack, "slow", 12)
    wait_for(lambda: prom_query(stack.vm, 'sum(perfbudget_lcp_seconds_count{route="/slow.html"})')["result"], 60,
             what="VictoriaMetrics to hold the replicas' LCP (vmagent's remote write)")

    def firing() -> list[dict[str, Any]]:
        status, body = http("GET", f"{stack.alerts.url}/api/v1/alerts")
        assert status == 200
        return [a for a in body["data"]["alerts"] or [] if a["state"] == "firing"
                and a["labels"].get("alertname") == naming.ALERT_VITAL_BUDGET]

    wait_for(firing, 90, what="vmalert to fire the budget alert")
    run = wait_for(lambda: _runs(stack.replicas[0], "optimize-images"), 90, what="a run of optimize-images")[0]
    # Alertmanager repeats the firing alert every 2 s, to both peers' webhook, through the load balancer:
    # deliveries reach all three replicas, and every one of them is answered by the same run.
    wait_for(lambda: _detail(stack.replicas[0], run["id"])["deliveries"] >= 4, 60, what="repeated deliveries")
    for replica in stack.replicas:
        assert [r["id"] for r in _runs(replica, "optimize-images")] == [run["id"]]
    assert _detail(stack.replicas[2], run["id"])["mode"] == "dry-run"
    wait_for(lambda: _detail(stack.replicas[1], run["id"])["state"] == "succeeded", 60, what="the dry run to finish")
    images = _detail(stack.replicas[1], run["id"])["actions"][0]
    assert images["kind"] == "images" and images["preview"]["bytesSaved"] > 0, images


def _own_count(replica: Server) -> float:
    """The LCP page views of /slow.html this replica itself received (its /metrics)."""
    _, text = http("GET", f"{replica.url}/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("perfbudget_lcp_seconds_count{") and 'route="/slow.html"' in line)


def test_every_replica_s_summary_counts_the_page_views_all_of_them_received(stack: Stack) -> None:
    _send_slow(stack, "summary", 9)  # three each, round-robin
    query = 'sum(perfbudget_lcp_seconds_count{route="/slow.html"})'

    def held() -> float:
        found = prom_query(stack.vm, query)["result"]
        return float(found[0]["value"][1]) if found else 0.0

    wait_for(lambda: held() == sum(_own_count(r) for r in stack.replicas) >= 9, 60,
             what="VictoriaMetrics to hold every page view")
    total = held()
    for replica in stack.replicas:
        status, answer = http("GET", f"{replica.url}/api/web-vitals?page=http://shop.test/slow.html&window=1h")
        assert status == 200 and answer["source"]["kind"] == "prometheus", answer["source"]
        # VictoriaMetrics counts a new series' increase from zero, so the count is exact: all of them, where
        # the replica itself holds a third.
        assert answer["metrics"]["LCP"]["samples"] == total > _own_count(replica)
        assert answer["metrics"]["LCP"]["value"] > 3000


def _post_together(replicas: list[Server], payload: dict[str, Any]) -> list[int]:
    """`payload` posted to each of `replicas` at the same moment (threads released by one barrier)."""
    barrier = threading.Barrier(len(replicas))
    statuses: list[int] = []

    def post(replica: Server) -> None:
        barrier.wait()
        statuses.append(http("POST", f"{replica.url}/api/alertmanager", payload,
                             {**AUTH, "Content-Type": "application/json"})[0])

    threads = [threading.Thread(target=post, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return statuses


def test_the_same_payload_at_two_replicas_at_once_is_one_run(stack: Stack) -> None:
    labels = {"alertname": naming.ALERT_VITAL_BUDGET, "metric": "LCP", "route": "/checkout", "device": "phone",
              "budget": "lcp-slow-pages", "severity": "warning"}
    created: list[str] = []
    for attempt in range(5):
        fingerprint = f"race{attempt:012d}"
        payload = {"version": "4", "status": "firing", "receiver": "perfbudget", "groupKey": f"race-{attempt}",
                   "alerts": [{"status": "firing", "labels": labels, "annotations": {},
                               "startsAt": _now(), "endsAt": "0001-01-01T00:00:00Z",
                               "fingerprint": fingerprint, "generatorURL": "http://vmalert.test/"}]}
        assert _post_together(stack.replicas[:2], payload) == [200, 200]
        created.append(fingerprint)
    runs = [r for r in _runs(stack.replicas[2], "optimize-images")
            if r["alert"] and r["alert"]["fingerprint"] in created]
    assert sorted(r["alert"]["fingerprint"] for r in runs) == created  # one run per payload, not two


def test_the_dashboards_queries_run_against_victoriametrics(stack: Stack) -> None:
    _send_slow(stack, "dash", 4)
    # Page views within the last minute (VictoriaMetrics drops the NaN a p75 of a zero rate gives), and the
    # recording rules vmalert wrote back.
    wait_for(lambda: prom_query(stack.vm, "sum(rate(perfbudget_lcp_seconds_count[1m])) > 0")["result"], 60,
             what="the page views' rate in VictoriaMetrics")
    wait_for(lambda: prom_query(stack.vm, "route_device_le:perfbudget_lcp_seconds_bucket:increase1h")["result"], 60,
             what="vmalert's recording rules, written back to VictoriaMetrics")
    empty = []
    for dashboard, title, expr in dashboard_queries():
        data = prom_query(stack.vm, expr)  # raises on any error VictoriaMetrics answers
        if dashboard == "web-vitals" and "offset" not in expr and "lcp" in expr and not data["result"]:
            empty.append((title, expr))
    assert empty == []
