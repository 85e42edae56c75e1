"""Slow clients (slowloris-style bodies trickled a byte at a time) never starve the beacon endpoint."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .stack import Server, beacon, exporter, http, trickle_beacon

pytestmark = pytest.mark.integration

SLOW_CLIENTS = 8
THREADS = 12  # per worker: more than the slow clients, however the kernel spreads them over the 2 workers


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with exporter(tmp_path_factory.mktemp("slow"), workers=2, config={"server": {"threads": THREADS}}) as srv:
        yield srv


def test_beacons_are_answered_promptly_while_slow_clients_trickle_bodies(served: Server) -> None:
    stop = threading.Event()
    sent = [0]
    slow = [threading.Thread(target=trickle_beacon, args=(served.port, stop, sent), daemon=True)
            for _ in range(SLOW_CLIENTS)]
    for thread in slow:
        thread.start()
    try:
        time.sleep(1.0)  # every slow client is now mid-body
        assert sent[0] > 0
        timings = []
        for i in range(20):
            started = time.monotonic()
            status, answer = http("POST", f"{served.url}/api/web-vitals", [beacon("INP", 90, f"fast-{i}")],
                                  timeout=5)
            timings.append(time.monotonic() - started)
            assert status == 200 and answer["received"] == 1
        # Generous bound (a loaded CI machine): blocked workers would make these wait for the slow bodies.
        assert max(timings) < 2.0, timings
    finally:
        stop.set()
        for thread in slow:
            thread.join(5)
    _, text = http("GET", f"{served.url}/metrics")
    counts = {tuple(sorted(sample.labels.items())): sample.value
              for family in text_string_to_metric_families(text) if family.name == "perfbudget_inp_seconds"
              for sample in family.samples if sample.name.endswith("_count")}
    assert counts == {(("device", "unknown"), ("route", "/")): 20.0}
