"""The schedules' decisions without Dagster: which runs each phase asks for, in what order, with
what stop time and mode, and why a phase skips."""

import json
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.night.breakers import Latch
from nightrun_dagster.night.clock import (
    Phase,
    Progress,
    UnreadablePlan,
    cron,
    decide,
    image_progress,
    pending_variants,
    read_plan,
)
from nightrun_dagster.night.window import TZ, at, night_of
from nightrun_dagster.store.night_plan import NightPlan
from nightrun_dagster.store.paths import Tree

NIGHT = "2026-02-09"  # Monday
LATCH = Latch("gpu_oom", "4 GPU out-of-memory errors in 10 min", 4, 3, NIGHT, "a", "2026-02-10")


def job(key: str, priority: int, kind: str = "image", budget: int = 10, **extra: Any) -> dict:
    return {"key": key, "priority": priority, "kind": kind, "budget": budget, "demand": 10, **extra}


def plan(*jobs: dict, mode: str = "exploration") -> NightPlan:
    return NightPlan.model_validate({"night": NIGHT, "mode": mode, "jobs": list(jobs)})


MIXED = plan(
    job("low", 10),
    job("b-high", 90),
    job("a-high", 90),
    job("reel", 30, kind="video", budget=4),
    job("reel2", 80, kind="video", budget=2),
)


def keys(decision: Any) -> list[str | None]:
    return [r.job_key for r in decision.requests]


def test_cron_and_night_of_every_phase() -> None:
    # Render phases tick ten minutes early: their runs are connected when the phase opens.
    assert [cron(p) for p in Phase] == [
        "45 22 * * *",
        "50 22 * * *",
        "0 23 * * *",
        "50 0 * * *",
        "50 2 * * *",
        "30 7 * * *",
        "0 8 * * *",
    ]
    for clock in ("22:45", "22:50", "23:00", "00:50", "01:00", "02:50", "03:00", "07:30", "08:00"):
        hour, minute = map(int, clock.split(":"))
        moment = at(NIGHT, time(hour, minute))
        assert night_of(moment) == NIGHT, clock
        # The daemon may hand the time in UTC.
        assert night_of(moment.astimezone(ZoneInfo("UTC"))) == NIGHT, clock
    assert night_of(datetime(2026, 2, 10, 22, 45, tzinfo=TZ)) == "2026-02-10"


def test_window_orders_image_jobs_by_priority_then_key() -> None:
    d = decide(Phase.window, NIGHT, plan=MIXED, latch=None)
    assert d.skip is None
    assert keys(d) == ["a-high", "b-high", "low"]
    assert [r.priority for r in d.requests] == [90, 90, 10]
    # Each phase's schedule starts one job (tests/defs/test_schedules.py): window → night_jobs.
    assert {(r.phase, r.job_key is not None) for r in d.requests} == {(Phase.window, True)}
    assert {r.stop_at for r in d.requests} == {at(NIGHT, time(1, 0))}
    assert d.requests[0].stop_at.isoformat() == "2026-02-10T01:00:00-03:00"
    assert d.requests[0].run_key == "window:2026-02-09:a-high"
    assert {(r.mode, r.phase) for r in d.requests} == {("exploration", Phase.window)}


def test_video_slice_runs_video_jobs_until_three() -> None:
    d = decide(Phase.video_slice, NIGHT, plan=MIXED, latch=None)
    assert keys(d) == ["reel2", "reel"]
    assert d.requests[0].stop_at.isoformat() == "2026-02-10T03:00:00-03:00"
    assert d.requests[0].run_key == "video:2026-02-09:reel2"


def test_window_without_video_runs_to_eight() -> None:
    d = decide(Phase.window, NIGHT, plan=plan(job("a", 1)), latch=None)
    assert d.requests[0].stop_at.isoformat() == "2026-02-10T08:00:00-03:00"
    # a video job with no budget does not take the GPU away at 01:00
    p = plan(job("a", 1), job("v", 5, kind="video", budget=0))
    d = decide(Phase.window, NIGHT, plan=p, latch=None)
    assert d.requests[0].stop_at.isoformat() == "2026-02-10T08:00:00-03:00"
    assert d.notes == ()  # the note about "v" belongs to the video slice
    assert decide(Phase.video_slice, NIGHT, plan=p, latch=None).skip == (
        "no video jobs tonight: v: no render budget tonight (demand 10)"
    )


def test_images_resume_requests_only_pending_unblocked_jobs() -> None:
    progress = {
        "a-high": Progress(0),
        "b-high": Progress(7),
        "low": Progress(3, blocked="missing model x.safetensors"),
    }
    d = decide(Phase.images_resume, NIGHT, plan=MIXED, latch=None, progress=progress)
    assert keys(d) == ["b-high"]
    assert d.requests[0].run_key == "resume:2026-02-09:b-high"
    assert d.requests[0].stop_at.isoformat() == "2026-02-10T08:00:00-03:00"
    assert "low: blocked (missing model x.safetensors), not retried" in d.notes
    # A job with no progress known is assumed to have its whole budget left.
    d = decide(Phase.images_resume, NIGHT, plan=MIXED, latch=None, progress={})
    assert keys(d) == ["a-high", "b-high", "low"]
    done = {k: Progress(0) for k in ("a-high", "b-high", "low")}
    d = decide(Phase.images_resume, NIGHT, plan=MIXED, latch=None, progress=done)
    assert d.skip == "nothing pending: every image job finished before the video slice"


def test_images_resume_skips_without_a_video_slice() -> None:
    d = decide(Phase.images_resume, NIGHT, plan=plan(job("a", 1)), latch=None)
    assert d.skip == "no video slice tonight: image jobs kept rendering"


def test_window_with_only_video_jobs_skips_and_points_to_one_am() -> None:
    p = plan(job("v", 5, kind="video"))
    d = decide(Phase.window, NIGHT, plan=p, latch=None)
    assert d.skip == "no image jobs with a render budget tonight; 1 video job(s) at 01:00"
    assert decide(Phase.window, NIGHT, plan=plan(), latch=None).skip == (
        "no active jobs in the night plan (is the queue empty?)"
    )


def test_blocked_jobs_are_left_out_and_named() -> None:
    p = plan(job("a", 1), job("b", 9, budget=0, blocked={"missing_nodes": ["WanVideoSampler"]}))
    d = decide(Phase.window, NIGHT, plan=p, latch=None)
    assert keys(d) == ["a"]
    assert d.notes == ("b: blocked (missing nodes: WanVideoSampler)",)


def test_latch_stops_what_sends_work_to_comfyui_only() -> None:
    stopped = {Phase.warm_up, Phase.window, Phase.video_slice, Phase.images_resume}
    for phase in Phase:
        d = decide(phase, NIGHT, plan=MIXED, latch=LATCH)
        if phase in stopped:
            assert d.skip == LATCH.describe() and not d.requests, phase
        else:
            assert d.skip != LATCH.describe(), phase
    assert "circuit breaker gpu_oom latched" in LATCH.describe()
    for phase in (Phase.hard_stop, Phase.cool_down):  # close_night, cool_down: they still run
        d = decide(phase, NIGHT, plan=MIXED, latch=LATCH)
        assert [(r.phase, r.job_key) for r in d.requests] == [(phase, None)]
        assert d.notes == (f"latched: {LATCH.describe()}",)
    # The warm-up latched before writing the plan: the cool-down still says so in the morning.
    d = decide(Phase.cool_down, NIGHT, plan=None, latch=LATCH)
    assert [(r.phase, r.job_key) for r in d.requests] == [(Phase.cool_down, None)]
    other = Latch("disk_free", "3 GB free", 3, 50, "2026-02-01", None, "2026-02-01")
    assert "Nothing ran tonight" in decide(Phase.cool_down, NIGHT, plan=None, latch=other).skip


def test_night_wide_phases() -> None:
    warm = decide(Phase.warm_up, NIGHT, plan=None, latch=None)
    (r,) = warm.requests
    assert (r.phase, r.job_key, r.run_key, r.mode) == (
        Phase.warm_up,
        None,
        "warmup:2026-02-09",
        "exploration",
    )
    forced = decide(Phase.warm_up, NIGHT, plan=None, latch=None, mode_override=RunMode.maintenance)
    assert forced.requests[0].mode == "maintenance"
    cool = decide(Phase.cool_down, NIGHT, plan=MIXED, latch=None)
    assert [(r.phase, r.run_key) for r in cool.requests] == [
        (Phase.cool_down, "cool-down:2026-02-09")
    ]
    stop = decide(Phase.hard_stop, "2026-02-13", plan=None, latch=None)
    assert [(r.phase, r.mode) for r in stop.requests] == [(Phase.hard_stop, "exploitation")]


def test_maintenance_plan_replaces_renders() -> None:
    sunday = plan(job("a", 1, budget=0), mode="maintenance")
    d = decide(Phase.maintenance, "2026-02-15", plan=sunday, latch=None)
    assert [(r.job_key, r.run_key, r.phase) for r in d.requests] == [
        (None, "maintenance:2026-02-15", Phase.maintenance)
    ]
    for phase in (Phase.window, Phase.video_slice, Phase.images_resume):
        assert decide(phase, "2026-02-15", plan=sunday, latch=None).skip == (
            "maintenance night (2026-02-15): no renders, the maintenance job runs"
        )
    # A plan's mode wins over the weekday: a Monday planned as maintenance is maintenance.
    d = decide(Phase.maintenance, NIGHT, plan=plan(mode="maintenance"), latch=None)
    assert keys(d) == [None]
    assert decide(Phase.maintenance, NIGHT, plan=MIXED, latch=None).skip == (
        "exploration night: maintenance runs on Sunday nights"
    )


def test_missing_plan() -> None:
    for phase in (Phase.window, Phase.video_slice, Phase.images_resume, Phase.maintenance):
        assert decide(phase, NIGHT, plan=None, latch=None).skip == (
            "night_plan for 2026-02-09 not written: did the 22:45 warm-up run?"
        )


# ---------------------------------------------------------------------------- reading the tree
def complete_variant(tree: Tree, key: str, vid: str) -> None:
    jd = tree.job(NIGHT, key)
    (jd.out(vid)).mkdir(parents=True)
    (jd.out(vid) / "img_0001.png").write_bytes(b"png!")
    (jd.meta(vid) / "comfy_history.json").write_text("{}")
    render = {"status": "ok", "outputs": [{"file": "out/img_0001.png", "bytes": 4}]}
    jd.params(vid).write_text(json.dumps({"variant_id": vid, "render": render}))


def test_pending_counts_incomplete_and_failed_variants(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    jd = tree.job(NIGHT, "a")
    assert pending_variants(jd, 12) == 12  # variants never written: the whole budget waits
    for vid in ("v0001", "v0002", "v0003"):
        jd.meta(vid).mkdir(parents=True)
        jd.params(vid).write_text(json.dumps({"variant_id": vid}))
    failed = {"variant_id": "v0003", "render": {"status": "failed", "error": "oom"}}
    jd.params("v0003").write_text(json.dumps(failed))
    complete_variant(tree, "a", "v0001")
    index = {"count": 3, "variants": ["v0001", "v0002", "v0003"]}
    jd.variants_index.write_text(json.dumps(index))
    assert pending_variants(jd, 12) == 2

    jd.blocked.write_text(json.dumps({"reason": "missing model wan.safetensors"}))
    p = plan(job("a", 1, budget=12), job("b", 2, budget=5), job("v", 3, kind="video"))
    assert image_progress(tree, NIGHT, p) == {
        "a": Progress(2, "missing model wan.safetensors"),
        "b": Progress(5),
    }


def test_read_plan(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    assert read_plan(tree, NIGHT) is None
    tree.night_plan(NIGHT).parent.mkdir(parents=True)
    tree.night_plan(NIGHT).write_text(json.dumps(MIXED.model_dump(mode="json")))
    assert read_plan(tree, NIGHT) == MIXED
    tree.night_plan(NIGHT).write_text("[1, 2]")
    with pytest.raises(UnreadablePlan, match=r"night_plan.json: \(document\).*run plan_night"):
        read_plan(tree, NIGHT)
    tree.night_plan(NIGHT).write_text("{not json")
    with pytest.raises(UnreadablePlan, match="not valid JSON"):
        read_plan(tree, NIGHT)
