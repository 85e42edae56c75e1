"""What POST /api/perf-fix promises (playbooks/estimates.py): the run's duration from the audit log's past runs,
else per-kind figures, and the image model's LCP figure only when every input it needs is measured."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

from perfbudget.config import load_config
from perfbudget.playbooks import load_playbooks
from perfbudget.playbooks.estimates import (
    KIND_SECONDS,
    Estimate,
    completion_text,
    duration_text,
    estimate,
    expected_improvement,
    image_improvement,
    kind_seconds,
    past_durations,
)
from perfbudget.playbooks.store import Store

from .conftest import BEARER, EchoKind, post, runner_of, wait_run


@pytest.mark.parametrize(("seconds", "text"), [
    (0.4, "under a second"), (1, "~1 second"), (40.2, "~40 seconds"), (89, "~89 seconds"), (90, "~2 minutes"),
    (15 * 60, "~15 minutes"), (89 * 60, "~89 minutes"), (90 * 60, "~2 hours"), (3 * 3600, "~3 hours"),
])
def test_durations_read_as_the_seed_writes_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_the_image_model_scales_the_resource_load_by_the_bytes_saved() -> None:
    # The seed's figures: 2.4 MB to 480 KB removes 80 % of a 1500 ms download from a 3200 ms LCP.
    assert image_improvement("LCP", 3200, 1500, 2_400_000, 480_000) == "LCP: -1200ms (3200ms → 2000ms)"
    assert image_improvement("LCP", 3200, 1500, 1_000_000, 1_000_000) is None  # nothing saved
    assert image_improvement("LCP", 3200, 4000, 2_400_000, 480_000) is None  # a load longer than the LCP
    assert image_improvement("LCP", 3200, 1500, 0, 0) is None
    assert image_improvement("LCP", 3200, 1500, 1000, 2000) is None  # bigger after: no gain to promise


def test_expected_improvement_is_the_prose_unless_every_figure_is_measured(tmp_path: Path) -> None:
    books = load_playbooks(load_config(env={"PERFBUDGET_DATA_DIR": str(tmp_path)}))
    images, layout = books["optimize-images"], books["layout-stability"]
    prose = images.spec.expected_improvement
    assert expected_improvement(images) == prose
    # The LCP resource load duration (an LCP subpart) is not recorded yet: without it, the prose.
    assert expected_improvement(images, p75=3200, byte_totals=(2_400_000, 480_000)) == prose
    assert expected_improvement(images, p75=3200, resource_load=1500, byte_totals=(2_400_000, 480_000)) == (
        "LCP: -1200ms (3200ms → 2000ms)")
    assert expected_improvement(images, p75=3200, resource_load=1500) == prose  # no preview's bytes
    # Not an image playbook: its own words whatever the figures.
    assert expected_improvement(layout, p75=3200, resource_load=1500, byte_totals=(10, 5)) == (
        layout.spec.expected_improvement)


def test_without_past_runs_the_estimate_sums_rough_figures_per_action_kind(tmp_path: Path) -> None:
    config = load_config(env={"PERFBUDGET_DATA_DIR": str(tmp_path)})
    book = load_playbooks(config)["optimize-images"]  # images, preload, manual
    (images_preview, images_apply), (preload_preview, preload_apply) = KIND_SECONDS["images"], KIND_SECONDS["preload"]
    manual = KIND_SECONDS["manual"][0]
    assert kind_seconds(book, "dry-run", "safe") == images_preview + preload_preview + manual
    assert kind_seconds(book, "execute", "safe") == images_apply + preload_apply + manual
    guess = estimate(Store(tmp_path / "runs.sqlite"), book, "execute", "safe")
    assert guess == Estimate(images_apply + preload_apply + manual,
                             "no past execute run: rough figures per action kind, 3 action(s)", 0)


def test_the_estimate_is_the_median_of_the_playbooks_past_succeeded_runs_of_the_same_mode(
    pb_app: Callable[..., Flask], echo: EchoKind,
) -> None:
    app = pb_app(playbooks={"execute": ["test-images"]})
    runner = runner_of(app)
    client = app.test_client()
    dry = [wait_run(runner, post(client, "/api/perf-fix", {"playbookId": "test-images"}).json["id"])
           for _ in range(3)]
    wet = wait_run(runner, post(client, "/api/perf-fix", {"playbookId": "test-images", "dryRun": False},
                                headers=BEARER).json["id"])
    book = runner.playbooks["test-images"]
    durations = [run.finished_at - run.started_at for run in dry if run.finished_at and run.started_at]
    assert len(durations) == 3
    assert sorted(past_durations(runner.store, "test-images", "dry-run")) == pytest.approx(sorted(durations))
    guess = estimate(runner.store, book, "dry-run", "safe")
    assert guess.runs == 3 and guess.basis == "median of the last 3 succeeded dry-run runs"
    assert guess.seconds == pytest.approx(statistics.median(durations))
    # The execute's own estimate leaves itself out: with no other execute, the per-kind figures.
    assert estimate(runner.store, book, "execute", "safe", exclude=wet.id).runs == 0
    assert estimate(runner.store, book, "execute", "safe").basis == "median of the last 1 succeeded execute run"


def test_completion_text_counts_down_and_says_when_a_run_finished(pb_app: Callable[..., Flask],
                                                                 echo: EchoKind) -> None:
    app = pb_app()
    runner = runner_of(app)
    run = wait_run(runner, post(app.test_client(), "/api/perf-fix", {"playbookId": "test-images"}).json["id"])
    assert completion_text(run, Estimate(600, "x", 0)).startswith("finished in ")
    assert run.started_at is not None
    running = replace(run, state="running", finished_at=None)
    assert completion_text(running, Estimate(900, "x", 0), now=run.started_at + 60) == "~14 minutes"
    assert completion_text(running, Estimate(30, "x", 0), now=run.started_at + 60) == (
        "any time now (over its estimate of ~30 seconds)")
    queued = replace(run, state="queued", started_at=None, finished_at=None)
    assert completion_text(queued, Estimate(15 * 60, "x", 0)) == "~15 minutes"
