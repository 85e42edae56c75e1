"""`perfbudget compare --source <perfbudget>` against a real `perfbudget serve` with releases configured and
beacons posted for several versions: its /metrics counts per version since start, summed over routes and
devices (or one route), the verdicts and exit codes 0, 1 and 2."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from .stack import PERFBUDGET, Server, beacon, exporter, free_port, http

pytestmark = pytest.mark.integration
VERSIONS = ["1.4.0", "1.5.0", "1.5.1", "1.6.0"]
PAGE = "http://shop.test/{}"
N = 120


def _fast(i: int) -> float:
    """LCP of a page view of 1.4.0 and 1.5.1: 1.2 to 2.1 s, every one good."""
    return 1200.0 + (i % 10) * 100


def _slow(i: int) -> float:
    """LCP of 1.5.0 on /checkout: 2.0 to 4.25 s in steps of 0.25 s."""
    return 2000.0 + (i % 10) * 250


def _views() -> list[dict[str, Any]]:
    views = []
    for i in range(N):
        views.append(("1.4.0", PAGE.format("" if i % 2 else "checkout"), _fast(i)))
        views.append(("1.5.1", PAGE.format("" if i % 2 else "checkout"), _fast(i + 3)))
        # 1.5.0 is as fast as 1.4.0 on /, slower on /checkout
        views.append(("1.5.0", PAGE.format("" if i % 2 else "checkout"), _fast(i) if i % 2 else _slow(i)))
    views += [("1.6.0", PAGE.format(""), _fast(i)) for i in range(10)]  # too few
    views += [("9.9.9", PAGE.format(""), 9000.0) for _ in range(5)]  # not a release: counted as other
    reports = []
    for n, (version, page, lcp) in enumerate(views):
        reports.append(beacon("LCP", lcp, f"lcp-{n}", page=page, version=version))
        reports.append(beacon("CLS", 0.01 * (n % 5), f"cls-{n}", page=page, version=version))
    return reports


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("compare")
    with exporter(tmp, workers=2, config={"releases": {"versions": VERSIONS}}) as srv:
        reports = _views()
        for start in range(0, len(reports), 20):
            status, body = http("POST", f"{srv.url}/api/web-vitals", reports[start:start + 20])
            assert status == 200, body
        yield srv


def _compare(srv: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PERFBUDGET, "compare", "--source", srv.url, *args], capture_output=True, text=True,
                          timeout=120)


def _vitals(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {vital["metric"]: vital for vital in json.loads(done.stdout)["vitals"]}


def _p75(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.75 * len(ordered)) - 1]


def test_a_release_slower_on_one_route_is_worse_exit_1(served: Server) -> None:
    done = _compare(served, "--from", "1.4.0", "--to", "1.5.0", "--metric", "LCP", "--metric", "CLS",
                    "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"GET {served.url}/metrics" in done.stderr
    body = json.loads(done.stdout)
    assert (body["source"], body["window"], body["exitCode"]) == (f"perfbudget {served.url}", None, 1)
    lcp, cls = _vitals(done)["LCP"], _vitals(done)["CLS"]
    # counts since the exporter started: exact
    assert (lcp["from"]["samples"], lcp["to"]["samples"]) == (N, N)
    assert lcp["from"]["goodShare"] == 1.0
    # the even page views on /checkout: 2.0, 2.5, 3.0, 3.5, 4.0 s, 2 in 5 good
    assert lcp["to"]["goodShare"] == pytest.approx(0.5 + 0.5 * 0.4)
    assert lcp["goodShareChangePoints"] == pytest.approx(-30.0)
    # the p75 the bucket interpolation gives: within the grid's few per cent of the page views' own
    slow = [_fast(i) if i % 2 else _slow(i) for i in range(N)]
    assert lcp["from"]["p75"] == pytest.approx(_p75([_fast(i) for i in range(N)]), rel=0.08)
    assert lcp["to"]["p75"] == pytest.approx(_p75(slow), rel=0.08)
    assert lcp["verdict"] == "worse" and lcp["goodShareTest"]["pValue"] < 1e-6
    assert cls["verdict"] == "no significant change"


def test_the_same_speed_and_one_route_alone_exit_0(served: Server) -> None:
    same = _compare(served, "--from", "1.4.0", "--to", "1.5.1", "--metric", "LCP", "--metric", "CLS")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "counts since the exporter started" in same.stdout
    rows = [line for line in same.stdout.splitlines() if line.startswith(("LCP ", "CLS "))]
    assert len(rows) == 2 and all(row.endswith("no significant change") for row in rows), same.stdout
    assert "120 / 120" in rows[0]
    home = _compare(served, "--from", "1.4.0", "--to", "1.5.0", "--metric", "LCP", "--route", "/", "--format", "json")
    assert home.returncode == 0, home.stdout + home.stderr
    lcp = _vitals(home)["LCP"]
    assert (lcp["from"]["samples"], lcp["to"]["samples"], lcp["verdict"]) == (N / 2, N / 2, "no significant change")


def test_an_unknown_version_too_few_samples_and_bad_flags_exit_2(served: Server) -> None:
    unknown = _compare(served, "--from", "1.4.0", "--to", "9.9.9")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert ("no page view counted under version '9.9.9' (the versions there: 1.4.0, 1.5.0, 1.5.1, 1.6.0, other); "
            "a release the exporter does not know is counted as `other`") in unknown.stderr
    few = _compare(served, "--from", "1.4.0", "--to", "1.6.0", "--metric", "LCP")
    assert few.returncode == 2 and "too few samples" in few.stdout
    assert "LCP: 120 page views for 1.4.0, 10 for 1.6.0: each version needs at least 50 (--min-samples)" in few.stderr
    assert _compare(served, "--from", "1.4.0", "--to", "1.6.0", "--metric", "LCP", "--min-samples", "10"
                    ).returncode == 0
    # INP has no page views at all: too few, whatever the others say
    assert _compare(served, "--from", "1.4.0", "--to", "1.5.1").returncode == 2
    same = _compare(served, "--from", "1.4.0", "--to", "1.4.0")
    assert same.returncode == 2 and "--from and --to are both '1.4.0'" in same.stderr
    for flag, value, message in (("--p75-threshold", "five", "'five' is not a percentage"),
                                 ("--alpha", "1.5", "'1.5' must be between 0 and 1"),
                                 ("--metric", "XYZ", "'XYZ' is not a vital"),
                                 ("--format", "yaml", "invalid choice: 'yaml'")):
        bad = _compare(served, "--from", "1.4.0", "--to", "1.5.0", flag, value)
        assert bad.returncode == 2 and message in bad.stderr, (flag, bad.stderr)


def test_an_exporter_without_releases_has_no_version_to_compare(tmp_path_factory: pytest.TempPathFactory) -> None:
    with exporter(tmp_path_factory.mktemp("no-releases"), workers=1) as srv:
        reports = [beacon("LCP", 1500.0, f"lcp-{i}", version="1.4.0") for i in range(5)]
        assert http("POST", f"{srv.url}/api/web-vitals", reports)[0] == 200
        done = _compare(srv, "--from", "1.4.0", "--to", "1.5.0")
    assert done.returncode == 2
    assert "the vitals histograms carry no `version` label" in done.stderr


def test_an_unreachable_source_exits_2() -> None:
    done = subprocess.run([*PERFBUDGET, "compare", "--from", "1", "--to", "2", "--source",
                           f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "is a perfbudget exporter or Prometheus listening there?" in done.stderr
