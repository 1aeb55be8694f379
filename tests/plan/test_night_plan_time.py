"""plan_night in GPU time: slices, shares by priority at each job's cost, expected finishes."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import expand_job
from nightrun_dagster.intake.queue import read_queue
from nightrun_dagster.intake.validate import Intake, ValidJob
from nightrun_dagster.night.window import window
from nightrun_dagster.plan.night_plan import JobCost, PlanBasis, plan_night, reserves
from nightrun_dagster.store.night_plan import NightPlan
from nightrun_dagster.store.paths import Tree

NIGHT = "2026-02-09"  # Monday: exploration
STATIC = "verde-yerba-static-2026-02"
ANCHORED = "mitienda-checkout-ui-2026-02"
VIDEO = "verde-teaser-reel-2026-02"
COSTS = {"static_ad_v1": 25.0, "ui_anchored_v1": 35.0, "wan21_teaser_v1": 240.0}


def found(tree: Tree, intake: Intake) -> list[ValidJob]:
    return list(read_queue(tree, intake).values())


def costs(jobs: list[ValidJob], scale: float = 1.0) -> dict[str, JobCost]:
    return {j.key: JobCost(COSTS[j.template.template_id] * scale, "measured") for j in jobs}


def by_kind(plan: dict, kind: str) -> list[dict]:
    return [j for j in plan["jobs"] if j["kind"] == kind]


def test_video_slice_and_images_around_it(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    jobs = found(tree, intake)
    plan = plan_night(NIGHT, RunMode.exploration, jobs, 100_000, costs=costs(jobs))
    NightPlan.model_validate(plan)  # the document the asset writes
    assert plan["basis"] == "time"
    slices = {s["name"]: s for s in plan["slices"]}
    assert set(slices) == {"images", "video"}
    assert slices["video"]["gpu_seconds"] <= 2 * 3600
    assert 6.9 * 3600 <= slices["images"]["gpu_seconds"] <= 7 * 3600
    (video,) = by_kind(plan, "video")
    # Video: 2 h at 240 s a clip, less the margin and the last clip (or its whole demand).
    assert video["budget"] == min(video["demand"], int((7200 * 0.99 - 240) // 240))
    assert video["expected_start"].endswith("01:00:00-03:00")
    for entry in plan["jobs"]:
        cost = COSTS[entry["template_id"]]
        assert entry["seconds_per_render"] == cost
        assert entry["est_seconds"] == pytest.approx((entry["budget"] + entry["extra"]) * cost)
    assert 0 < plan["expected_utilization"] <= 1.0


def test_over_capacity_fills_each_slice_by_priority(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    jobs = found(tree, intake)
    # Slow GPU: three times the 3080's costs, so the demand no longer fits.
    plan = plan_night(NIGHT, RunMode.exploration, jobs, 100_000, costs=costs(jobs, 3.0))
    static, anchored = (next(j for j in plan["jobs"] if j["key"] == k) for k in (STATIC, ANCHORED))
    assert static["budget"] < static["demand"] and anchored["budget"] < anchored["demand"]
    # Reserve for a night faster than planned: 15 % more of what each budget leaves out.
    assert static["reserve"] == min(
        static["demand"] - static["budget"], -(-static["budget"] * 15 // 100)
    )
    # 71 : 51 of the images slice's time.
    ratio = static["est_seconds"] / anchored["est_seconds"]
    assert ratio == pytest.approx(71 / 51, rel=0.02)
    images = next(s for s in plan["slices"] if s["name"] == "images")
    assert images["gpu_seconds"] - images["planned_seconds"] < 3 * 35.0
    assert plan["gpu_free_at"] is None
    # The higher priority renders first; the other follows and ends by 08:00.
    assert static["expected_finish"] == anchored["expected_start"]
    end = window(NIGHT)[1]
    assert datetime.fromisoformat(anchored["expected_finish"]) <= end


def test_under_capacity_says_when_the_gpu_is_free_and_explores_the_rest(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    jobs = found(tree, intake)
    fast = costs(jobs, 0.05)  # a GPU twenty times a 3080
    exploit = plan_night(NIGHT, RunMode.exploitation, jobs, 100_000, costs=fast)
    assert all(j["budget"] == j["demand"] and j["extra"] == 0 for j in exploit["jobs"])
    free = datetime.fromisoformat(exploit["gpu_free_at"])
    start, end = window(NIGHT)
    assert start < free < end
    images = sum(j["est_seconds"] for j in exploit["jobs"] if j["kind"] == "image")
    assert free == start + timedelta(seconds=round(images))
    explore = plan_night(NIGHT, RunMode.exploration, jobs, 100_000, costs=fast)
    extras = {j["key"]: j["extra"] for j in explore["jobs"]}
    # Each job explores up to its own cap, no further.
    for j in explore["jobs"]:
        assert j["budget"] == j["demand"]
        assert j["budget"] + j["extra"] <= j["cap"]
    assert sum(extras.values()) > 0
    assert explore["expected_utilization"] > exploit["expected_utilization"]


def test_max_renders_stays_a_ceiling(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    jobs = found(tree, intake)
    plan = plan_night(NIGHT, RunMode.exploration, jobs, 50, costs=costs(jobs, 0.05))
    assert plan["total_budget"] + plan["total_extra"] == 50
    assert all(j["reserve"] == 0 for j in plan["jobs"])  # no room left under the ceiling
    assert plan["gpu_free_at"] is not None  # the ceiling, not the night, is the limit


def test_count_basis_keeps_the_count_plan_and_estimates_its_time(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    jobs = found(tree, intake)
    older = plan_night(NIGHT, RunMode.exploration, jobs, 2000)
    count = plan_night(
        NIGHT, RunMode.exploration, jobs, 2000, costs=costs(jobs, 3.0), basis=PlanBasis.COUNT
    )
    assert count["basis"] == "count" and older["basis"] == "count"
    assert [j["budget"] for j in count["jobs"]] == [j["budget"] for j in older["jobs"]]
    for entry in count["jobs"]:
        assert entry["extra"] == 0
        assert entry["est_seconds"] == entry["budget"] * COSTS[entry["template_id"]] * 3.0
    # Blind to time, the count plan promises more than the window holds on a slow GPU.
    assert count["expected_utilization"] > 1.0
    assert "slices" not in older  # no costs: no time figures at all


def test_blocked_jobs_get_no_time(tree: Tree, intake: Intake, queued_examples: list[Path]) -> None:
    jobs = found(tree, intake)
    plan = plan_night(
        NIGHT,
        RunMode.exploration,
        jobs,
        100_000,
        blocked={VIDEO: {"missing_models": ["wan.safetensors"]}},
        costs=costs(jobs),
    )
    video = next(j for j in plan["jobs"] if j["key"] == VIDEO)
    assert video["budget"] == 0 and video["est_seconds"] == 0
    # No video tonight: the images have the whole window.
    assert [s["name"] for s in plan["slices"]] == ["images"]


def test_extras_and_reserve_are_new_reproducible_variants(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    job = next(j for j in found(tree, intake) if j.key == STATIC)
    base = expand_job(job.job, RunMode.exploration, NIGHT, 100, job.template.defaults)
    more = expand_job(
        job.job, RunMode.exploration, NIGHT, 100, job.template.defaults, extra=30, reserve=20
    )
    assert more.variants[:100] == base.variants  # the plan's variants are untouched
    extras, spare = more.variants[100:130], more.variants[130:]
    assert (more.extra, more.reserve, len(spare)) == (30, 20, 20)
    seeds = {v.seed for v in base.variants}
    assert not seeds & {v.seed for v in extras}  # extras explore seeds the sweep lacks

    def combo(v: object) -> str:
        return repr({k: x for k, x in v.as_dict().items() if k != "variant_id"})

    assert not {combo(v) for v in base.variants} & {combo(v) for v in spare}
    again = expand_job(
        job.job, RunMode.exploration, NIGHT, 100, job.template.defaults, extra=30, reserve=20
    )
    assert again == more
    priorities = {"a": 90, "b": 10}
    assert reserves({"a": 800, "b": 105}, {"a": 100, "b": 100}, priorities, 1000) == {
        "a": 15,
        "b": 5,
    }
    # Within what the night's ceiling has left, by priority.
    assert reserves({"a": 800, "b": 800}, {"a": 100, "b": 100}, priorities, 10) == {
        "a": 9,
        "b": 1,
    }
