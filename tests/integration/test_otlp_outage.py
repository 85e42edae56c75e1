"""The OTLP collector down for a long time, compressed: ~20 s of continuous beacons while every export fails.

With a 200 ms export interval and a 100 ms export timeout, 20 s is about a hundred failed exports per worker,
what a one-minute interval would give in an hour and a half of outage. Ingestion must not notice (every beacon
answered 200 promptly and counted in /metrics), the loss must be counted (failed exports and their data
points keep growing), and the workers' memory must stay flat (nothing queues the data that could not go).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .stack import Server, beacon, exporter, free_port, http

pytestmark = pytest.mark.integration

DURATION = 20.0
CLIENTS = 4
VITALS = {"LCP": 2300, "INP": 180, "CLS": 0.05, "FCP": 1200, "TTFB": 300}
PAGES = ("http://shop.test/", "http://shop.test/cart", "http://shop.test/products/1234")


def _metrics(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    _, text = http("GET", f"{server.url}/metrics")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(value for (n, pairs), value in samples.items()
               if n == name and all(dict(pairs).get(k) == x for k, x in labels.items()))


def _workers(master: int) -> list[int]:
    """The server's worker processes: the master's children (granian forks its workers)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class Outage:
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)  # failed exports counted, sampled every 2 s
    rss: list[dict[int, int]] = field(default_factory=list)  # worker pid -> RSS KiB, sampled every 2 s
    final: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    output: str = ""


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    tmp = tmp_path_factory.mktemp("otlp-outage")
    env = {
        # Nothing listens on this port: every export is refused at connect, for the whole run.
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "100",
        "OTEL_SERVICE_NAME": "perfbudget-outage",
    }
    result = Outage()
    with exporter(tmp, env=env) as server:
        stop = time.monotonic() + DURATION
        lock = threading.Lock()
        errors: list[str] = []

        def client(index: int) -> None:
            n = 0
            while time.monotonic() < stop:
                body = [beacon(name, value, f"outage-{index}-{n}", page=PAGES[n % len(PAGES)], device="phone")
                        for name, value in VITALS.items()]
                started = time.monotonic()
                status, answer = http("POST", f"{server.url}/api/web-vitals", body, timeout=10)
                elapsed = time.monotonic() - started
                if status != 200 or answer.get("received") != len(VITALS):
                    errors.append(f"{status} {answer}")
                    return
                with lock:
                    result.sent += 1
                    result.latencies.append(elapsed)
                n += 1

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        while time.monotonic() < stop:
            time.sleep(2.0)
            samples = _metrics(server)
            result.failures.append(_value(samples, "perfbudget_otlp_exports_total", outcome="failure"))
            result.rss.append({pid: _rss_kib(pid) for pid in _workers(server.proc.pid)})
        for thread in threads:
            thread.join(15)
        assert not errors, errors[:3]
        result.final = _metrics(server)
    result.output = server.output()
    latencies = sorted(result.latencies)
    print(f"otlp outage: {result.sent} beacons, p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms; "
          f"failed exports {result.failures}; worker RSS KiB {result.rss[0]} -> {result.rss[-1]}")
    yield result


def test_every_beacon_was_answered_promptly_and_counted(outage: Outage) -> None:
    assert outage.sent > 1000, outage.sent  # a sustained stream, not a trickle
    for name in VITALS:
        assert _value(outage.final, "perfbudget_reports_accepted_total", metric=name) == outage.sent
    latencies = sorted(outage.latencies)
    # An export blocked on the dead collector would show as requests taking its timeout or retries.
    assert statistics.median(latencies) < 0.05, latencies[len(latencies) // 2]
    assert latencies[int(len(latencies) * 0.99)] < 0.2, latencies[-10:]
    assert latencies[-1] < 1.0, latencies[-10:]


def test_the_loss_is_counted_and_keeps_growing(outage: Outage) -> None:
    failures = _value(outage.final, "perfbudget_otlp_exports_total", outcome="failure")
    # Two workers, one export every 200 ms (plus up to 100 ms spent failing) for 20 s.
    assert failures >= 40, failures
    assert _value(outage.final, "perfbudget_otlp_exports_total", outcome="success") == 0
    # Each failed export carried at least one data point; all of them are counted as lost.
    assert _value(outage.final, "perfbudget_otlp_failed_data_points_total") >= failures
    assert all(later > earlier for earlier, later in zip(outage.failures, outage.failures[1:], strict=False)), (
        outage.failures)


def test_the_workers_memory_stays_flat(outage: Outage) -> None:
    # The first sample is after 2 s of warm-up; from there to the end, a worker may grow a little (allocator
    # arenas, the dedup table filling in) but not with the failed exports (~100 per worker).
    first, last = outage.rss[0], outage.rss[-1]
    assert set(first) == set(last) and len(first) == 2, (first, last)
    growth = {pid: last[pid] - first[pid] for pid in first}
    assert all(kib < 8 * 1024 for kib in growth.values()), growth


def test_no_traceback_reaches_the_log(outage: Outage) -> None:
    assert "Traceback" not in outage.output, outage.output[-3000:]
