"""`perfbudget compare --source <Prometheus>` against a real Prometheus holding three hours of the vitals
histograms with a `version` label, backfilled by `promtool tsdb create-blocks-from openmetrics`: the
increase over --window per version, summed over routes (or one route), its verdicts and exit codes."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .stack import PERFBUDGET, Server, prom_query, prometheus, wait_for

pytestmark = pytest.mark.integration
HISTORY = 3 * 3600
LCP_EDGES = ("1.0", "2.0", "2.5", "3.0", "4.0", "+Inf")
CLS_EDGES = ("0.05", "0.1", "0.25", "+Inf")
#: Page views per minute in each LCP bucket (the +Inf bucket last), per version and route.
BASELINE_LCP = (3, 4, 2, 1, 0, 0)  # good share 90 %, p75 2.125 s
SLOW_LCP = (1, 3, 2, 3, 1, 0)  # good share 60 %
LCP = {("1.4.0", "/"): BASELINE_LCP, ("1.4.0", "/checkout"): BASELINE_LCP,
       ("1.4.1", "/"): BASELINE_LCP, ("1.4.1", "/checkout"): BASELINE_LCP,
       # the new release is slower on /checkout only
       ("1.5.0", "/"): BASELINE_LCP, ("1.5.0", "/checkout"): SLOW_LCP,
       ("other", "/"): (0, 1, 1, 0, 0, 0)}
CLS = (5, 3, 1, 1)  # every version and route the same
#: A version with a page view every 10 minutes: 6 an hour, too few.
RARE = "1.3.0"


def _series(metric: str, labels: str, edges: tuple[str, ...], per_minute: tuple[int, ...], start: int, end: int,
            every: int = 1) -> list[str]:
    """One histogram's series (buckets, count, sum), each series' points together in time order."""
    cumulative = [sum(per_minute[: i + 1]) for i in range(len(per_minute))]
    steps = [(minute, ts) for minute, ts in enumerate(range(start, end, 60))]
    lines = []
    for edge, per in zip(edges, cumulative, strict=True):
        lines += [f'{metric}_bucket{{{labels},le="{edge}"}} {per * (m // every + 1)} {ts}' for m, ts in steps]
    lines += [f"{metric}_count{{{labels}}} {cumulative[-1] * (m // every + 1)} {ts}" for m, ts in steps]
    lines += [f"{metric}_sum{{{labels}}} {cumulative[-1] * (m // every + 1) * 2.0:.1f} {ts}" for m, ts in steps]
    return lines


def _openmetrics(now: int) -> str:
    start = now - HISTORY
    lcp, cls = [], []
    for (version, route), per_minute in LCP.items():
        labels = f'route="{route}",device="desktop",version="{version}"'
        lcp += _series("perfbudget_lcp_seconds", labels, LCP_EDGES, per_minute, start, now)
        cls += _series("perfbudget_cls", labels, CLS_EDGES, CLS, start, now)
    rare = f'route="/",device="phone",version="{RARE}"'
    lcp += _series("perfbudget_lcp_seconds", rare, LCP_EDGES, (0, 1, 0, 0, 0, 0), start, now, every=10)
    cls += _series("perfbudget_cls", rare, CLS_EDGES, (1, 0, 0, 0), start, now, every=10)
    return "\n".join(["# TYPE perfbudget_lcp_seconds histogram", *lcp, "# TYPE perfbudget_cls histogram", *cls,
                      "# EOF", ""])


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("compare-prometheus")
    source = tmp / "history.om"
    source.write_text(_openmetrics(int(time.time())))
    done = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(tmp / "tsdb")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with prometheus(tmp, []) as server:
        wait_for(lambda: prom_query(server, 'count(perfbudget_lcp_seconds_bucket{version="1.5.0"})')["result"], 60,
                 what="Prometheus to load the backfilled blocks")
        yield server


def _compare(prom: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PERFBUDGET, "compare", "--source", prom.url, *args], capture_output=True, text=True,
                          timeout=120)


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(done.stdout)
    return body


def test_a_slower_release_is_worse_exit_1(prom: Server) -> None:
    done = _compare(prom, "--from", "1.4.0", "--to", "1.5.0", "--metric", "LCP", "--metric", "CLS",
                    "--window", "1h", "--format", "json")
    assert done.returncode == 1, done.stderr
    assert f"{prom.url} is Prometheus; increase over 3600s" in done.stderr
    # the versions' dots escaped in the regex (the progress line shows the query's first 90 characters)
    assert 'sum by (le, version) (increase(perfbudget_lcp_seconds_bucket{version=~"1\\\\.4\\\\.0|1' in done.stderr
    body = _json(done)
    assert (body["source"], body["window"], body["exitCode"]) == (f"prometheus {prom.url}", "1h", 1)
    lcp, cls = body["vitals"]
    assert lcp["metric"] == "LCP" and lcp["verdict"] == "worse"
    # 20 page views a minute for each version over the hour, extrapolated by Prometheus: about 1,200
    assert lcp["from"]["samples"] == pytest.approx(1200, rel=0.05)
    assert lcp["to"]["samples"] == pytest.approx(1200, rel=0.05)
    # 1.4.0: (6, 8, 4, 2) a minute, rank 75 % in (2.0, 2.5]: 2.125 s; 1.5.0: (4, 7, 4, 4, 1): 2.5 s exactly
    assert lcp["from"]["p75"] == pytest.approx(2125, abs=1) and lcp["to"]["p75"] == pytest.approx(2500, abs=1)
    assert lcp["from"]["goodShare"] == pytest.approx(0.9, abs=1e-3)
    assert lcp["to"]["goodShare"] == pytest.approx(0.75, abs=1e-3)
    assert lcp["goodShareChangePoints"] == pytest.approx(-15, abs=0.1)
    assert lcp["goodShareTest"]["edge"] == 2500 and lcp["goodShareTest"]["pValue"] < 1e-10
    assert lcp["p75Test"]["pValue"] < 1e-6
    assert cls["verdict"] == "no significant change" and cls["p75Test"]["pValue"] == pytest.approx(1.0)


def test_the_route_filter_and_a_release_like_the_last_exit_0(prom: Server) -> None:
    same = _compare(prom, "--from", "1.4.0", "--to", "1.4.1", "--metric", "LCP", "--metric", "CLS")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "result: no vital significantly worse (exit 0)" in same.stdout
    assert "increase over 1h" in same.stdout
    home = _compare(prom, "--from", "1.4.0", "--to", "1.5.0", "--metric", "LCP", "--route", "/", "--format", "json")
    assert home.returncode == 0, home.stderr
    assert _json(home)["selector"] == {"route": "/"}
    (lcp,) = _json(home)["vitals"]
    assert lcp["verdict"] == "no significant change" and lcp["from"]["samples"] == pytest.approx(600, rel=0.05)


def test_an_unknown_version_and_too_few_samples_exit_2(prom: Server) -> None:
    unknown = _compare(prom, "--from", "1.4.0", "--to", "9.9.9", "--metric", "LCP")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert "no page view counted under version '9.9.9' (the versions there: 1.3.0, 1.4.0, 1.4.1, 1.5.0, other)" \
        in unknown.stderr
    rare = _compare(prom, "--from", "1.4.0", "--to", RARE, "--metric", "LCP", "--window", "2h")
    assert rare.returncode == 2, rare.stderr
    assert "too few samples" in rare.stdout
    assert f"for {RARE}: each version needs at least 50 (--min-samples)" in rare.stderr
    bad = _compare(prom, "--from", "1.4.0", "--to", "1.5.0", "--window", "2x")
    assert bad.returncode == 2 and "--window: window '2x' is not a duration" in bad.stderr
