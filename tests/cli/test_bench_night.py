"""`nightrun bench night` end to end: a small compressed night through the emulator, the daemon's
run queue and the render loop, and figures that come from the emulator's real busy intervals."""

from __future__ import annotations

import argparse
from pathlib import Path

import dagster as dg
import pytest
import yaml

from nightrun_dagster.cli.bench_night import (
    DEFAULT_NIGHT,
    Options,
    add_arguments,
    instance_yaml,
    options_of,
    run_bench,
    window_figures,
)
from nightrun_dagster.cli.bench_night_jobs import Case, JobWant, Template
from nightrun_dagster.cli.user_input import UserInputError
from nightrun_dagster.defs.tags import PHASE_TAG, STOP_AT_TAG
from nightrun_dagster.night.window import WINDOW_START, at
from nightrun_dagster.plan.night_plan import PlanBasis

ENV_KEYS = (
    "DAGSTER_HOME",
    "NIGHTRUN_ROOT",
    "COMFYUI_URL",
    "NIGHTRUN_TIME_SCALE",
    "NIGHTRUN_PLAN_BASIS",
)
RENDERS = 6  # one small image job: every variant renders long before 08:00


def _options(*argv: str) -> Options:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return options_of(parser.parse_args(list(argv)))


def test_options_default_to_every_case_under_both_plans() -> None:
    options = _options()
    assert options.cases == (Case.over, Case.equal, Case.under)
    assert options.plans == (PlanBasis.TIME, PlanBasis.COUNT)
    assert options.factor == 120.0  # one night hour in 30 s


def test_a_weekend_night_is_refused_with_the_reason() -> None:
    with pytest.raises(UserInputError, match="--night 2026-03-07: pick a Monday to Thursday"):
        _options("--night", "2026-03-07")


def test_the_instance_has_the_projects_queue_and_pools() -> None:
    config = yaml.safe_load(instance_yaml())
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"]["default_limit"] >= 1
    assert "storage" not in config  # SQLite, Dagster's default


def test_window_figures_from_intervals() -> None:
    start = at(DEFAULT_NIGHT, WINDOW_START).timestamp()
    # One render straddles 23:00 (only its part inside counts), a 100 s gap, one more render.
    intervals = [(start - 10, start + 20), (start + 120, start + 145)]
    figures = window_figures(intervals, DEFAULT_NIGHT)
    assert figures["busy_seconds"] == pytest.approx(45)
    assert figures["utilization"] == pytest.approx(45 / 32400)
    assert figures["max_gap_s"] == pytest.approx(100)
    assert figures["idle_before_first_s"] == 0


def test_a_small_night_goes_through_the_queue(tmp_path: Path, monkeypatch) -> None:
    for key in ENV_KEYS:  # the bench sets them for its processes; restored after the test
        monkeypatch.setenv(key, "")
    options = Options(
        hour_seconds=3.0,
        cases=(Case.under,),
        plans=(PlanBasis.COUNT,),
        history_nights=0,
        night=DEFAULT_NIGHT,
        run_start_s=30.0,
        case_jobs={
            Case.under: (JobWant("bench-test-static", Template.static, 50, RENDERS, "2x1"),)
        },
    )
    result = run_bench(options, tmp_path)

    assert set(result) >= {"cases", "machine", "night", "hour_seconds"}
    (row,) = result["cases"]
    assert (row["case"], row["plan"]) == ("under", "count")
    for key in ("utilization", "min_done_ratio", "starved", "left", "plan_error", "max_gap_s"):
        assert key in row
    (job,) = row["jobs"]
    assert (job["budget"], job["done"]) == (RENDERS, RENDERS)
    assert row["min_done_ratio"] == 1.0 and row["starved"] == 0 and row["left"] == 0
    # The emulator executed exactly the job's prompts inside the window, each at least an SDXL
    # render's night seconds (its own overhead, scaled by the clock, comes on top), and
    # utilization is their sum over the window.
    assert row["renders"] == RENDERS
    assert 0.9 * 25 * RENDERS < row["busy_seconds"] < 0.5 * 32400
    assert row["utilization"] == pytest.approx(row["busy_seconds"] / 32400)
    # The plan error compares the plan's seconds per render with those same server intervals.
    if job["seconds_per_render"] is not None:
        estimated = job["seconds_per_render"] * RENDERS
        assert row["plan_error"] == pytest.approx(estimated / row["busy_seconds"], rel=0.02)

    # The runs went through the instance's queue, launched by the daemon, with the schedules' tags.
    instance = dg.DagsterInstance.from_config(row["home"])
    runs = instance.get_runs()
    phases = {r.tags.get(PHASE_TAG) for r in runs}
    assert {"window", "hard-stop"} <= phases
    window_runs = [r for r in runs if r.tags.get(PHASE_TAG) == "window"]
    assert len(window_runs) == 1
    run = window_runs[0]
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags.get("dagster/schedule_name") == "window_schedule"
    assert run.tags[STOP_AT_TAG].startswith("2026-03-06T08:00")
    kinds = [
        e.dagster_event.event_type_value
        for e in instance.all_logs(run.run_id)
        if e.dagster_event is not None
    ]
    # Queued by the bench, then started by the daemon's run coordinator.
    assert kinds.index("PIPELINE_ENQUEUED") < kinds.index("PIPELINE_STARTING")
    assert kinds.index("PIPELINE_STARTING") < kinds.index("PIPELINE_START")
