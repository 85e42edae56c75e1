"""The summary's windows from a real Prometheus (prometheus_windows.py): two replicas' histograms, backfilled
by `promtool tsdb create-blocks-from openmetrics` at a constant rate, so that `increase` over a window is
exact; the counts come back summed over the replicas, per device and per LCP subpart under the frames' keys,
and a Prometheus that cannot answer says so."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
from prometheus_client.utils import floatToGoString

from perfbudget.budgets.model import Budgets
from perfbudget.prometheus_windows import PrometheusError, PrometheusWindows
from perfbudget.promql import PrometheusClient
from perfbudget.reload import histogram_edges
from perfbudget.subparts import PART_BUCKETS
from perfbudget.summary import device_key
from perfbudget.summary_breakdown import part_key

from .stack import free_port, prometheus

pytestmark = pytest.mark.integration
EDGES = histogram_edges(Budgets())
STEP = 15  # seconds between samples
HISTORY = 2 * 3600
# Per replica, per step: (page views, LCP seconds, device, resource load delay seconds).
REPLICAS = {"replica-1": (2, 1.2, "phone", 0.9), "replica-2": (1, 3.6, "desktop", 2.4)}


def _lines(metric: str, labels: str, edges: tuple[float, ...], per_step: int, value: float,
           steps: list[int]) -> list[str]:
    out = []
    for edge in (*edges, float("inf")):
        le = floatToGoString(edge)
        out += [f'{metric}_bucket{{{labels},le="{le}"}} {per_step * (i + 1) if value <= edge else 0} {ts}'
                for i, ts in enumerate(steps)]
    out += [f"{metric}_count{{{labels}}} {per_step * (i + 1)} {ts}" for i, ts in enumerate(steps)]
    out += [f"{metric}_sum{{{labels}}} {per_step * (i + 1) * value} {ts}" for i, ts in enumerate(steps)]
    return out


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusWindows, float]]:
    tmp = tmp_path_factory.mktemp("prometheus-windows")
    now = int(time.time()) // STEP * STEP
    steps = list(range(now - HISTORY, now + 1, STEP))
    lcp, parts = [], []
    for instance, (views, seconds, device, delay) in REPLICAS.items():
        base = f'instance="{instance}",job="perfbudget",route="/checkout",device="{device}"'
        lcp += _lines("perfbudget_lcp_seconds", base, EDGES["LCP"], views, seconds, steps)
        parts += _lines("perfbudget_lcp_subpart_seconds", f'{base},subpart="resource_load_delay"', PART_BUCKETS,
                        views, delay, steps)
    source = tmp / "history.om"
    source.write_text("\n".join(["# TYPE perfbudget_lcp_seconds histogram", *lcp,
                                 "# TYPE perfbudget_lcp_subpart_seconds histogram", *parts, "# EOF", ""]))
    done = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(tmp / "tsdb")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with prometheus(tmp, []) as prom:
        yield PrometheusWindows(PrometheusClient(prom.url), EDGES, device_vitals=["LCP"]), float(now)


def _at(edges: tuple[float, ...], counts: list[float], edge: float) -> float:
    return counts[edges.index(edge)] if edge != float("inf") else counts[-1]


def test_a_window_counts_every_replica_per_device_and_per_part(windows: tuple[PrometheusWindows, float]) -> None:
    source, now = windows
    counts = source.window_counts(now - 600, now, "/checkout")
    # 600 s = 40 steps: replica-1 80 page views at 1.2 s (phone), replica-2 40 at 3.6 s (desktop).
    lcp = counts["LCP"]
    assert lcp[-1] == pytest.approx(120)
    assert _at(EDGES["LCP"], lcp, 2.5) == pytest.approx(80)
    assert counts[device_key("LCP", "phone")][-1] == pytest.approx(80)
    assert _at(EDGES["LCP"], counts[device_key("LCP", "desktop")], 2.5) == pytest.approx(0)
    delay = counts[part_key("LCP", "resource_load_delay")]
    assert delay[-1] == pytest.approx(120) and delay[PART_BUCKETS.index(min(e for e in PART_BUCKETS if e >= 0.9))] \
        == pytest.approx(80)
    assert "INP" not in counts  # nothing there: no key, as the local frames give none
    # Every route, and a route nobody visited.
    assert source.window_counts(now - 600, now, None)["LCP"][-1] == pytest.approx(120)
    assert source.window_counts(now - 600, now, "/nowhere") == {}


def test_a_ladder_prometheus_does_not_have_leaves_the_vital_out(windows: tuple[PrometheusWindows, float]) -> None:
    source, now = windows
    other = PrometheusWindows(source.client, {"LCP": (*EDGES["LCP"][:-1], 33.3)})
    assert "LCP" not in other.window_counts(now - 600, now, "/checkout")


def test_a_prometheus_that_cannot_answer_raises_with_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PrometheusError, match=url.replace(".", r"\.")):
        PrometheusWindows(PrometheusClient(url, timeout=2), dict(EDGES)).window_counts(0, 600, None)

