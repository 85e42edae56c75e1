"""Verification: the vital before and after an execute, from the exporter or from Prometheus."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from perfbudget.config import Config
from perfbudget.playbooks import build_runner, load_playbooks
from perfbudget.playbooks.records import Measurement, Verification
from perfbudget.playbooks.verify import PrometheusVerifier
from perfbudget.web.runs import run_json

from .conftest import BEARER, EchoKind, get, post, runner_of, wait_run


class _FakeVerifier:
    def __init__(self) -> None:
        self.values = [3.2, 2.4]

    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> Measurement:
        return {"p75": self.values.pop(0), "unit": "s", "samples": 100}



def test_verification_compares_the_vital_before_and_after_an_execute(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path
) -> None:
    config = make_config(playbooks={"directory": str(book_dir), "execute": ["test-images"]})
    runner = build_runner(config, load_playbooks(config))
    runner.verifier = _FakeVerifier()
    run = runner.submit_manual("test-images", execute=True, auto_approve=True, trigger={"type": "cli"},
                               route="/cart")
    done = runner.run_now(run.id)
    verification = run_json(runner, done)["verification"]
    assert verification["metric"] == "LCP" and verification["route"] == "/cart"
    assert verification["before"]["p75"] == 3.2 and verification["after"]["p75"] == 2.4
    assert verification["change"] == -0.25 and verification["verdict"] == "improved"



def test_local_verification_reads_the_exporters_own_histograms(app: Flask, echo: EchoKind) -> None:
    client = app.test_client()
    beacons = [{"name": "LCP", "value": 3000, "delta": 3000, "id": f"v6-{i}", "rating": "poor",
                "navigationType": "navigate", "pageUrl": "https://shop.test/cart"} for i in range(8)]
    assert post(client, "/api/web-vitals", json=beacons).status_code == 200
    runner = runner_of(app)
    assert runner.verifier is not None
    measured = runner.verifier.p75("LCP", "/cart", time.time() - 3600, None)
    # eight loads of 3000 ms: the p75 is interpolated inside their bucket, (2.92, 3.42] s
    assert measured["samples"] == 8 and measured["unit"] == "ms" and 2920 < measured["p75"] <= 3420



class _BrokenVerifier:
    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> Measurement:
        raise RuntimeError("database is locked")



def test_a_failing_verifier_is_recorded_as_unavailable_and_the_execute_still_runs(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path
) -> None:
    config = make_config(playbooks={"directory": str(book_dir), "execute": ["test-images"]})
    runner = build_runner(config, load_playbooks(config))
    runner.verifier = _BrokenVerifier()
    run = runner.submit_manual("test-images", execute=True, auto_approve=True, trigger={"type": "cli"})
    done = runner.run_now(run.id)
    assert done.state == "succeeded"
    assert done.result.verification == Verification(
        False, reason="verification unavailable: RuntimeError: database is locked")



def test_the_prometheus_query_escapes_the_route_as_a_promql_string() -> None:
    # Nothing listens on port 9: the query is still reported, with the connection error.
    measured = PrometheusVerifier("http://127.0.0.1:9", timeout=0.5).p75("LCP", '/a"} or vector(1) #\\', 0, 3600)
    assert measured["query"] == ('histogram_quantile(0.75, sum by (le) (increase('
                                 'perfbudget_lcp_seconds_bucket{route="/a\\"} or vector(1) #\\\\"}[3600s])))')
    assert measured["error"].startswith("Prometheus query failed:")



class _CountingVerifier:
    def __init__(self) -> None:
        self.calls = 0

    def p75(self, metric: str, route: str | None, start: float, end: float | None) -> Measurement:
        self.calls += 1
        return {"p75": 3.0, "unit": "s", "samples": 10}



def test_the_console_lists_runs_without_measuring_each_one(pb_app: Callable[..., Flask], echo: EchoKind) -> None:
    app = pb_app(playbooks={"execute": ["test-images"]})
    runner = runner_of(app)
    verifier = _CountingVerifier()
    runner.verifier = verifier
    client = app.test_client()
    run_id = post(client, "/api/perf-fix", {"playbookId": "test-images", "dryRun": False}, headers=BEARER).json["id"]
    run = wait_run(runner, run_id)
    assert verifier.calls == 1  # the "before", measured when the execute started
    assert run_json(runner, run, verify=False)["verification"]["before"]["p75"] == 3.0
    assert client.get("/").status_code == 200
    assert verifier.calls == 1
    assert get(client, f"/api/perf-fix/runs/{run_id}").json["verification"]["after"]["p75"] == 3.0
    assert verifier.calls == 2



def test_a_data_source_that_fails_after_the_run_leaves_the_run_readable(
    make_config: Callable[..., Config], echo: EchoKind, book_dir: Path
) -> None:
    config = make_config(playbooks={"directory": str(book_dir), "execute": ["test-images"]})
    runner = build_runner(config, load_playbooks(config))
    runner.verifier = _FakeVerifier()
    done = runner.run_now(runner.submit_manual("test-images", execute=True, auto_approve=True,
                                               trigger={"type": "cli"}).id)
    runner.verifier = _BrokenVerifier()
    verification = run_json(runner, done)["verification"]
    assert verification["before"]["p75"] == 3.2 and verification["verdict"] == "verification unavailable"
    assert verification["after"]["error"] == "verification unavailable: RuntimeError: database is locked"
