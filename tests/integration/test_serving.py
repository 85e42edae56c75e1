"""`perfbudget serve` as users run it: several workers, exact counts, promtool-clean exposition, shutdown."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .stack import PERFBUDGET, Server, beacon, exporter, http

pytestmark = pytest.mark.integration

CLIENTS = 8
BEACONS_PER_CLIENT = 50


def _send_many(url: str, client: int) -> int:
    sent = 0
    for i in range(BEACONS_PER_CLIENT):
        batch = [beacon(name, value, f"c{client}-{i}", page=f"http://shop.test/products/{i % 7}")
                 for name, value in (("LCP", 1800 + i), ("FCP", 900), ("TTFB", 300), ("CLS", 0.02), ("INP", 80))]
        # A repeat of the CLS report with the same id, as web-vitals sends on a later hide: never counted twice.
        batch.append(beacon("CLS", 0.05, f"c{client}-{i}", page=f"http://shop.test/products/{i % 7}"))
        request = urllib.request.Request(f"{url}/api/web-vitals", data=json.dumps(batch).encode(),
                                         headers={"Content-Type": "text/plain;charset=UTF-8"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        sent += 1
    return sent


def _metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_several_workers_count_every_beacon_exactly_once(tmp_path: Path, server: str) -> None:
    with exporter(tmp_path, workers=2, server=server, config={"routes": {"patterns": ["/products/:id"]}}) as srv:
        with ThreadPoolExecutor(CLIENTS) as pool:
            assert sum(pool.map(lambda c: _send_many(srv.url, c), range(CLIENTS))) == CLIENTS * BEACONS_PER_CLIENT
        _, text = http("GET", f"{srv.url}/metrics")
    expected = CLIENTS * BEACONS_PER_CLIENT
    for vital in ("lcp_seconds", "fcp_seconds", "ttfb_seconds", "cls", "inp_seconds"):
        assert _metric_sum(text, f"perfbudget_{vital}_count") == expected, vital
    assert _metric_sum(text, 'perfbudget_reports_accepted_total') == 5 * expected
    assert _metric_sum(text, 'perfbudget_reports_duplicate_total') == expected
    assert _metric_sum(text, 'perfbudget_beacon_requests_total') == expected
    assert 'route="/products/:id"' in text


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with exporter(tmp_path_factory.mktemp("serve"), workers=2) as srv:
        http("POST", f"{srv.url}/api/web-vitals", [beacon("LCP", 2600, "x1"), beacon("FID", 10, "x2")])
        yield srv


def test_the_exposition_passes_promtool_check_metrics(served: Server) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: run scripts/install-test-deps (Debian package 'prometheus')"
    _, text = http("GET", f"{served.url}/metrics")
    assert "perfbudget_lcp_seconds_bucket" in text and "perfbudget_build_info" in text
    result = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_openmetrics_is_negotiated_under_the_production_server(served: Server) -> None:
    request = urllib.request.Request(f"{served.url}/metrics",
                                     headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert response.read().decode().rstrip().endswith("# EOF")


def test_ops_endpoints_answer(served: Server) -> None:
    assert http("GET", f"{served.url}/-/healthy")[0] == 200
    status, body = http("GET", f"{served.url}/-/ready")
    assert (status, body) == (200, {"ready": True})


def test_sigterm_stops_the_server_cleanly(tmp_path: Path) -> None:
    with exporter(tmp_path, workers=2) as srv:
        http("POST", f"{srv.url}/api/web-vitals", [beacon("LCP", 2600, "s1")])
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(30) == 0
    assert "Traceback" not in srv.output()


def test_a_second_server_on_a_busy_port_refuses_to_start(served: Server, tmp_path: Path) -> None:
    # granian binds with SO_REUSEPORT: without the check, this one would start and take half the beacons.
    result = subprocess.run(
        [*PERFBUDGET, "serve", "--web.listen-address", f"127.0.0.1:{served.port}", "--workers", "1"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PERFBUDGET_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.returncode == 1
    assert f"refusing to start: 127.0.0.1:{served.port}: Address already in use" in result.stderr


def test_a_configured_multiprocess_directory_keeps_files_that_are_not_ours(tmp_path: Path) -> None:
    shared = tmp_path / "multiproc"
    shared.mkdir()
    (shared / "keep.txt").write_text("someone else's")
    (shared / "counter_999.db").write_bytes(b"stale")
    with exporter(tmp_path / "run", workers=1, env={"PROMETHEUS_MULTIPROC_DIR": str(shared)}) as srv:
        http("POST", f"{srv.url}/api/web-vitals", [beacon("LCP", 2600, "m1")])
        _, text = http("GET", f"{srv.url}/metrics")
    assert 'perfbudget_reports_accepted_total{metric="LCP"} 1.0' in text
    assert (shared / "keep.txt").read_text() == "someone else's"
    assert not (shared / "counter_999.db").exists()
