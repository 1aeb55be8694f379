"""The night's schedules evaluated at their fixed times on a Monday, a Friday and a Sunday
against a real night plan: run requests, their order, tags and modes, and every skip reason."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time
from pathlib import Path

import dagster as dg
import pytest

from nightrun_dagster.definitions import build_defs
from nightrun_dagster.defs.assets.planning import night_plan
from nightrun_dagster.defs.partitions import night_job_key
from nightrun_dagster.defs.resources import NightrunResource, TelegramResource
from nightrun_dagster.defs.schedules import (
    NIGHT_SCHEDULES,
    cool_down_schedule,
    hard_stop_schedule,
    images_resume_schedule,
    learning_schedule,
    maintenance_schedule,
    review_schedule,
    video_slice_schedule,
    warmup_schedule,
    window_schedule,
)
from nightrun_dagster.defs.tags import (
    MODE_TAG,
    PHASE_TAG,
    PRIORITY_TAG,
    START_AT_TAG,
    STOP_AT_TAG,
)
from nightrun_dagster.night.breakers import LATENCY, Trip, latch, read_latch
from nightrun_dagster.night.clock import Phase, fires_at
from nightrun_dagster.night.window import (
    COOL_DOWN,
    TIMEZONE,
    VIDEO_SLICE_END,
    VIDEO_SLICE_START,
    WARMUP,
    WINDOW_END,
    WINDOW_START,
    at,
)
from nightrun_dagster.store.paths import Tree

MONDAY, FRIDAY, SUNDAY = "2026-02-09", "2026-02-13", "2026-02-15"
STATIC = "verde-yerba-static-2026-02"  # image, priority 70
UI = "mitienda-checkout-ui-2026-02"  # image, priority 50
REEL = "verde-teaser-reel-2026-02"  # video, priority 30
ALL_JOBS = [STATIC, UI, REEL]


@dataclass(frozen=True)
class Tick:
    run_requests: list[dg.RunRequest]
    skip_message: str | None


@pytest.fixture
def repo(tree: Tree) -> dg.RepositoryDefinition:
    """The code location's definitions: the schedules' partitioned requests resolve (and are
    validated) against the jobs they target, the way the daemon resolves them."""
    return build_defs(tree.root).get_repository_def()


@pytest.fixture
def instance(queued_examples: list[Path]) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("job", ALL_JOBS)
        yield inst


def tick(
    schedule: dg.ScheduleDefinition,
    instance: dg.DagsterInstance,
    repo: dg.RepositoryDefinition,
    nightrun: NightrunResource,
    night: str,
    clock: time,
) -> Tick:
    """Evaluate `schedule` as the daemon would at `clock` during `night` (Buenos Aires)."""
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=at(night, clock),
        resources={"nightrun": nightrun},
        repository_def=repo,
    ) as context:
        data = schedule.evaluate_tick(context)
    return Tick(list(data.run_requests or []), data.skip_message)


def plan(instance: dg.DagsterInstance, nightrun: NightrunResource, request: dg.RunRequest) -> None:
    """Run the warm-up's request the way the daemon launches it: its partition and its tags."""
    ours = {k: v for k, v in request.tags.items() if k.startswith("nightrun/")}
    result = dg.materialize(
        [night_plan],
        instance=instance,
        partition_key=request.partition_key,
        resources={"nightrun": nightrun},
        tags=ours,
    )
    assert result.success


def jobs_of(data: Tick) -> list[str]:
    keys = []
    for r in data.run_requests:
        assert isinstance(r.partition_key, dg.MultiPartitionKey)
        keys.append(r.partition_key.keys_by_dimension["job"])
    return keys


def only(data: Tick) -> dg.RunRequest:
    assert data.skip_message is None
    assert len(data.run_requests) == 1
    return data.run_requests[0]


def skipped(data: Tick) -> str:
    assert not data.run_requests
    assert data.skip_message
    return data.skip_message


def test_schedules_fire_at_the_night_clock_in_buenos_aires() -> None:
    crons = {s.name: (s.cron_schedule, s.job_name) for s in NIGHT_SCHEDULES}
    assert crons == {
        "warmup_schedule": ("45 22 * * *", "plan_night"),
        "window_schedule": ("50 22 * * *", "night_jobs"),
        "maintenance_schedule": ("0 23 * * *", "maintenance"),
        "video_slice_schedule": ("50 0 * * *", "night_jobs"),
        "images_resume_schedule": ("50 2 * * *", "night_jobs"),
        "cool_down_schedule": ("30 7 * * *", "cool_down"),
        "hard_stop_schedule": ("0 8 * * *", "close_night"),
        "learning_schedule": ("0 23 * * 0", "learning"),
        "review_schedule": (["30 7 * * *", "15 8 * * *"], "review_jobs"),
    }
    for s in NIGHT_SCHEDULES:
        assert s.execution_timezone == TIMEZONE
        assert s.default_status == dg.DefaultScheduleStatus.RUNNING


@pytest.mark.parametrize(("night", "mode"), [(MONDAY, "exploration"), (FRIDAY, "exploitation")])
def test_a_render_night_tick_by_tick(
    night: str,
    mode: str,
    instance: dg.DagsterInstance,
    repo: dg.RepositoryDefinition,
    nightrun: NightrunResource,
) -> None:
    def run(schedule: dg.ScheduleDefinition, clock: time) -> Tick:
        return tick(schedule, instance, repo, nightrun, night, clock)

    # 22:45: the warm-up plans the night in the weekday's mode.
    warm = only(run(warmup_schedule, WARMUP))
    assert warm.partition_key == night and warm.run_key == f"warmup:{night}"
    assert warm.tags[MODE_TAG] == mode and warm.tags[PHASE_TAG] == "warm-up"
    assert warm.tags["dagster/schedule_name"] == "warmup_schedule"
    plan(instance, nightrun, warm)

    # 22:50: image jobs by priority, from 23:00; they hand the GPU to the video job at 01:00.
    window = run(window_schedule, fires_at(Phase.window))
    assert window.skip_message is None
    assert jobs_of(window) == [STATIC, UI]
    assert [r.run_key for r in window.run_requests] == [
        f"window:{night}:{STATIC}",
        f"window:{night}:{UI}",
    ]
    assert [r.tags[PRIORITY_TAG] for r in window.run_requests] == ["70", "50"]
    next_day = at(night, VIDEO_SLICE_START).date().isoformat()
    for r in window.run_requests:
        assert r.tags[START_AT_TAG] == f"{night}T23:00:00-03:00"
        assert r.tags[STOP_AT_TAG] == f"{next_day}T01:00:00-03:00"
        assert r.tags[MODE_TAG] == mode and r.tags[PHASE_TAG] == "window"
        assert r.tags["dagster/partition/night"] == night  # resolved against night_jobs
    assert window.run_requests[0].partition_key == night_job_key(night, STATIC)
    assert skipped(run(maintenance_schedule, WINDOW_START)) == (
        f"{mode} night: maintenance runs on Sunday nights"
    )

    # 00:50: the video slice, from 01:00 until 03:00.
    video = run(video_slice_schedule, fires_at(Phase.video_slice))
    assert jobs_of(video) == [REEL]
    (reel,) = video.run_requests
    assert reel.run_key == f"video:{night}:{REEL}"
    assert reel.tags[STOP_AT_TAG] == f"{next_day}T03:00:00-03:00"
    assert reel.tags[START_AT_TAG] == f"{next_day}T01:00:00-03:00"
    assert reel.tags[PRIORITY_TAG] == "30" and reel.tags[MODE_TAG] == mode
    assert reel.tags[PHASE_TAG] == "video-slice"

    # 02:50: nothing rendered yet in this test, so both image jobs come back, 03:00 to 08:00.
    resume = run(images_resume_schedule, fires_at(Phase.images_resume))
    assert jobs_of(resume) == [STATIC, UI]
    assert [r.run_key for r in resume.run_requests] == [
        f"resume:{night}:{STATIC}",
        f"resume:{night}:{UI}",
    ]
    for r in resume.run_requests:
        assert r.tags[START_AT_TAG] == f"{next_day}T03:00:00-03:00"
        assert r.tags[STOP_AT_TAG] == f"{next_day}T08:00:00-03:00"
        assert r.tags[PHASE_TAG] == "images-resume" and r.tags[MODE_TAG] == mode

    # 07:30 and 08:00 belong to the same night (08:00 is not tomorrow's night).
    cool = only(run(cool_down_schedule, COOL_DOWN))
    assert cool.partition_key == night and cool.run_key == f"cool-down:{night}"
    assert cool.tags[MODE_TAG] == mode and cool.tags[PHASE_TAG] == "cool-down"
    stop = only(run(hard_stop_schedule, WINDOW_END))
    assert stop.partition_key == night and stop.run_key == f"hard-stop:{night}"
    assert stop.tags[MODE_TAG] == mode and stop.tags[PHASE_TAG] == "hard-stop"

    # A second tick asks for the same run keys, so the daemon launches nothing twice.
    again = run(window_schedule, WINDOW_START)
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in window.run_requests]


def test_a_sunday_is_maintenance(
    instance: dg.DagsterInstance,
    repo: dg.RepositoryDefinition,
    nightrun: NightrunResource,
    tree: Tree,
) -> None:
    def run(schedule: dg.ScheduleDefinition, clock: time) -> Tick:
        return tick(schedule, instance, repo, nightrun, SUNDAY, clock)

    warm = only(run(warmup_schedule, WARMUP))
    assert warm.tags[MODE_TAG] == "maintenance"
    plan(instance, nightrun, warm)
    assert json.loads(tree.night_plan(SUNDAY).read_bytes())["mode"] == "maintenance"

    no_renders = f"maintenance night ({SUNDAY}): no renders, the maintenance job runs"
    assert skipped(run(window_schedule, WINDOW_START)) == no_renders
    upkeep = only(run(maintenance_schedule, WINDOW_START))
    assert upkeep.partition_key == SUNDAY and upkeep.run_key == f"maintenance:{SUNDAY}"
    assert upkeep.tags[MODE_TAG] == "maintenance" and upkeep.tags[PHASE_TAG] == "maintenance"
    assert skipped(run(video_slice_schedule, VIDEO_SLICE_START)) == no_renders
    assert skipped(run(images_resume_schedule, VIDEO_SLICE_END)) == no_renders
    assert only(run(cool_down_schedule, COOL_DOWN)).tags[MODE_TAG] == "maintenance"
    assert only(run(hard_stop_schedule, WINDOW_END)).partition_key == SUNDAY


def test_a_latched_breaker_stops_the_gpu_not_the_morning(
    instance: dg.DagsterInstance,
    repo: dg.RepositoryDefinition,
    nightrun: NightrunResource,
    tree: Tree,
) -> None:
    plan(instance, nightrun, only(tick(warmup_schedule, instance, repo, nightrun, MONDAY, WARMUP)))
    trip = Trip(LATENCY, "mean latency 600.0 s per image is above 480 s", 600.0, 480.0)
    latch(tree.root, trip, night=MONDAY, job=STATIC)
    reason = read_latch(tree.root).describe()
    assert "circuit breaker latency latched" in reason and "nightrun resume" in reason

    # What sends work to ComfyUI skips, naming the breaker: the warm-up (its preload prompt)
    # and the 23:00, 01:00 and 03:00 render runs.
    for schedule, clock in [
        (warmup_schedule, WARMUP),
        (window_schedule, WINDOW_START),
        (video_slice_schedule, VIDEO_SLICE_START),
        (images_resume_schedule, VIDEO_SLICE_END),
    ]:
        assert skipped(tick(schedule, instance, repo, nightrun, MONDAY, clock)) == reason
    # Maintenance sends nothing to ComfyUI: on a Monday it skips for its own reason only.
    assert "latched" not in skipped(
        tick(maintenance_schedule, instance, repo, nightrun, MONDAY, WINDOW_START)
    )
    # The 07:30 cool-down summarizes what rendered before the trip.
    cool = only(tick(cool_down_schedule, instance, repo, nightrun, MONDAY, COOL_DOWN))
    assert cool.partition_key == MONDAY and cool.tags[PHASE_TAG] == "cool-down"
    # The review sends the shortlist of what rendered.
    shortlist = tree.job(MONDAY, STATIC).selection / "shortlisted.json"
    shortlist.parent.mkdir(parents=True)
    shortlist.write_text(json.dumps({"picks": [{"variant_id": "v0001"}]}))
    on = TelegramResource(token="1:x", signing_key="k" * 32, review_chat_id=-1)
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=at(MONDAY, COOL_DOWN),
        resources={"nightrun": nightrun, "telegram": on},
        repository_def=repo,
    ) as context:
        review = review_schedule.evaluate_tick(context)
    assert review.skip_message is None and len(review.run_requests) == 1
    assert review.run_requests[0].run_key.startswith(f"review:{MONDAY}:{STATIC}:")
    # The hard stop only records that the window closed: it runs through the latch.
    stop = only(tick(hard_stop_schedule, instance, repo, nightrun, MONDAY, WINDOW_END))
    assert stop.partition_key == MONDAY and stop.tags[MODE_TAG] == "exploration"


def test_a_warm_up_that_tripped_still_gets_its_cool_down(
    instance: dg.DagsterInstance,
    repo: dg.RepositoryDefinition,
    nightrun: NightrunResource,
    tree: Tree,
) -> None:
    # The 22:45 warm-up found the disk full: it latched and wrote no plan.
    latch(tree.root, Trip("disk_free", "3.0 GB free", 3.0, 50.0), night=FRIDAY, job=None)
    reason = read_latch(tree.root).describe()
    assert skipped(tick(window_schedule, instance, repo, nightrun, FRIDAY, WINDOW_START)) == reason
    cool = only(tick(cool_down_schedule, instance, repo, nightrun, FRIDAY, COOL_DOWN))
    assert cool.partition_key == FRIDAY
    # A latch left from an earlier night does not invent a night that never planned.
    assert "Nothing ran tonight" in skipped(
        tick(cool_down_schedule, instance, repo, nightrun, MONDAY, COOL_DOWN)
    )


def test_without_a_plan_the_night_skips_and_says_why(
    instance: dg.DagsterInstance, repo: dg.RepositoryDefinition, nightrun: NightrunResource
) -> None:
    missing = f"night_plan for {FRIDAY} not written: did the 22:45 warm-up run?"
    for schedule, clock in [
        (window_schedule, WINDOW_START),
        (maintenance_schedule, WINDOW_START),
        (video_slice_schedule, VIDEO_SLICE_START),
        (images_resume_schedule, VIDEO_SLICE_END),
    ]:
        assert skipped(tick(schedule, instance, repo, nightrun, FRIDAY, clock)) == missing
    cool = skipped(tick(cool_down_schedule, instance, repo, nightrun, FRIDAY, COOL_DOWN))
    assert cool.startswith(missing) and "Nothing ran tonight" in cool
    # The window still closes, in the weekday's mode.
    stop = only(tick(hard_stop_schedule, instance, repo, nightrun, FRIDAY, WINDOW_END))
    assert stop.tags[MODE_TAG] == "exploitation"


def test_no_video_job_keeps_images_rendering_until_eight(
    repo: dg.RepositoryDefinition, nightrun: NightrunResource, queued_examples: list[Path]
) -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("job", [STATIC, UI])  # the video job is not active
        plan(
            instance,
            nightrun,
            only(tick(warmup_schedule, instance, repo, nightrun, MONDAY, WARMUP)),
        )

        window = tick(window_schedule, instance, repo, nightrun, MONDAY, WINDOW_START)
        assert jobs_of(window) == [STATIC, UI]
        assert {r.tags[STOP_AT_TAG] for r in window.run_requests} == {"2026-02-10T08:00:00-03:00"}
        video = tick(video_slice_schedule, instance, repo, nightrun, MONDAY, VIDEO_SLICE_START)
        assert skipped(video) == "no video jobs tonight"
        resume = tick(images_resume_schedule, instance, repo, nightrun, MONDAY, VIDEO_SLICE_END)
        assert skipped(resume) == "no video slice tonight: image jobs kept rendering"


def test_blocked_jobs_get_no_run_and_the_skip_names_them(
    instance: dg.DagsterInstance,
    repo: dg.RepositoryDefinition,
    nightrun: NightrunResource,
    tree: Tree,
) -> None:
    plan(instance, nightrun, only(tick(warmup_schedule, instance, repo, nightrun, MONDAY, WARMUP)))
    # What the warm-up writes when ComfyUI lacks a model: the job stays in the plan, unbudgeted.
    doc = json.loads(tree.night_plan(MONDAY).read_bytes())
    for entry in doc["jobs"]:
        if entry["key"] in {STATIC, REEL}:
            entry["budget"] = 0
            entry["blocked"] = {"missing_models": [f"{entry['key']}.safetensors"]}
    tree.night_plan(MONDAY).write_text(json.dumps(doc))

    window = tick(window_schedule, instance, repo, nightrun, MONDAY, WINDOW_START)
    assert jobs_of(window) == [UI]
    assert window.run_requests[0].tags[STOP_AT_TAG] == "2026-02-10T08:00:00-03:00"
    video = skipped(tick(video_slice_schedule, instance, repo, nightrun, MONDAY, VIDEO_SLICE_START))
    assert video == (f"no video jobs tonight: {REEL}: blocked (missing models: {REEL}.safetensors)")

    for entry in doc["jobs"]:
        entry["budget"] = 0
    tree.night_plan(MONDAY).write_text(json.dumps(doc))
    empty = skipped(tick(window_schedule, instance, repo, nightrun, MONDAY, WINDOW_START))
    assert empty.startswith("no jobs with a render budget tonight: ")
    assert f"{STATIC}: blocked (missing models: {STATIC}.safetensors)" in empty
    assert f"{UI}: no render budget tonight" in empty


def test_mode_override_reaches_the_plan_and_every_run(
    instance: dg.DagsterInstance, repo: dg.RepositoryDefinition, tree: Tree
) -> None:
    forced = NightrunResource(
        root=str(tree.root), queue_settle_seconds=0, mode_override="exploitation"
    )
    warm = only(tick(warmup_schedule, instance, repo, forced, MONDAY, WARMUP))
    assert warm.tags[MODE_TAG] == "exploitation"  # a Monday, exploration by weekday
    plan(instance, forced, warm)
    window = tick(window_schedule, instance, repo, forced, MONDAY, WINDOW_START)
    assert {r.tags[MODE_TAG] for r in window.run_requests} == {"exploitation"}

    with pytest.raises(ValueError, match="'fast' is not a run mode"):
        NightrunResource(root=str(tree.root), mode_override="fast")


def test_an_unreadable_plan_skips_with_its_path(
    instance: dg.DagsterInstance,
    repo: dg.RepositoryDefinition,
    nightrun: NightrunResource,
    tree: Tree,
) -> None:
    tree.night_plan(MONDAY).parent.mkdir(parents=True)
    tree.night_plan(MONDAY).write_text('{"night": ')
    window = skipped(tick(window_schedule, instance, repo, nightrun, MONDAY, WINDOW_START))
    assert str(tree.night_plan(MONDAY)) in window and "run plan_night again" in window
    assert only(tick(hard_stop_schedule, instance, repo, nightrun, MONDAY, WINDOW_END))


def test_learning_builds_the_week_that_just_closed_on_sunday_night(
    instance: dg.DagsterInstance,
    repo: dg.RepositoryDefinition,
    nightrun: NightrunResource,
    tree: Tree,
) -> None:
    request = only(tick(learning_schedule, instance, repo, nightrun, SUNDAY, WINDOW_START))
    # The week of Sunday 02-08 to Saturday 02-14 closed at 02-15's 22:45 warm-up.
    assert request.partition_key == "2026-02-08"
    assert request.run_key == "learning:2026-02-08"
    assert request.tags[MODE_TAG] == "maintenance"
    # Learning sends nothing to ComfyUI: a latched breaker does not stop it.
    latch(tree.root, Trip(LATENCY, "slow", 600, 480), night=SUNDAY, job=None)
    again = only(tick(learning_schedule, instance, repo, nightrun, SUNDAY, WINDOW_START))
    assert again.run_key == request.run_key


def test_review_sends_each_shortlist_once_and_only_with_telegram(
    instance: dg.DagsterInstance,
    repo: dg.RepositoryDefinition,
    nightrun: NightrunResource,
    tree: Tree,
) -> None:
    plan(instance, nightrun, only(tick(warmup_schedule, instance, repo, nightrun, MONDAY, WARMUP)))

    def review(telegram: TelegramResource) -> Tick:
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=at(MONDAY, COOL_DOWN),
            resources={"nightrun": nightrun, "telegram": telegram},
            repository_def=repo,
        ) as context:
            data = review_schedule.evaluate_tick(context)
        return Tick(list(data.run_requests or []), data.skip_message)

    assert "Telegram is not configured" in skipped(review(TelegramResource()))
    on = TelegramResource(token="1:x", signing_key="k" * 32, review_chat_id=-1)
    assert "no shortlist with picks yet" in skipped(review(on))

    shortlist = tree.job(MONDAY, STATIC).selection / "shortlisted.json"
    shortlist.parent.mkdir(parents=True)
    shortlist.write_text(json.dumps({"picks": [{"variant_id": "v0001"}]}))
    first = only(review(on))
    assert jobs_of(review(on)) == [STATIC]
    assert first.run_key.startswith(f"review:{MONDAY}:{STATIC}:")
    assert first.tags[MODE_TAG] == "exploration"
    assert only(review(on)).run_key == first.run_key  # same shortlist, same run key
    shortlist.write_text(json.dumps({"picks": [{"variant_id": "v0002"}]}))
    assert only(review(on)).run_key != first.run_key  # a new shortlist is sent again
