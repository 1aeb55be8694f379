"""The night's schedules (Buenos Aires time): warm-up, window or maintenance, video slice,
images resume, cool-down, hard stop. Each asks `night.clock.decide` and requests what it says."""

from datetime import datetime

import dagster as dg

# What `define_asset_job` returns; Dagster does not export the name.
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition as AssetJob,
)

from nightrun_dagster.defs.assets.learning import week_partitions
from nightrun_dagster.defs.jobs import (
    close_night_job,
    cool_down_job,
    learning_job,
    maintenance_job,
    night_jobs_job,
    plan_night_job,
    review_jobs_job,
)
from nightrun_dagster.defs.partitions import night_job_key
from nightrun_dagster.defs.resources import NightrunResource, TelegramResource
from nightrun_dagster.defs.tags import (
    MODE_TAG,
    PHASE_TAG,
    PRIORITY_TAG,
    START_AT_TAG,
    STOP_AT_TAG,
)
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.night.breakers import read_latch
from nightrun_dagster.night.clock import (
    Phase,
    Request,
    UnreadablePlan,
    cron,
    decide,
    image_progress,
    read_plan,
    shortlists_to_review,
)
from nightrun_dagster.night.window import TIMEZONE, TZ, night_of

Evaluation = list[dg.RunRequest] | dg.SkipReason


def run_request(request: Request) -> dg.RunRequest:
    """The Dagster form of a clock request; the tags make mode and phase visible on the run."""
    tags = {MODE_TAG: request.mode, PHASE_TAG: request.phase.value}
    if request.stop_at is not None:
        tags[STOP_AT_TAG] = request.stop_at.isoformat()
    if request.start_at is not None:
        tags[START_AT_TAG] = request.start_at.isoformat()
    if request.priority is not None:
        tags[PRIORITY_TAG] = str(request.priority)
    partition = night_job_key(request.night, request.job_key) if request.job_key else request.night
    return dg.RunRequest(run_key=request.run_key, partition_key=partition, tags=tags)


def evaluate(
    context: dg.ScheduleEvaluationContext, nightrun: NightrunResource, phase: Phase
) -> Evaluation:
    night = night_of(context.scheduled_execution_time)
    tree = nightrun.tree()
    try:
        plan = read_plan(tree, night)
    except UnreadablePlan as exc:
        if phase is not Phase.hard_stop:
            return dg.SkipReason(str(exc))
        context.log.warning(str(exc))
        plan = None
    progress = image_progress(tree, night, plan) if plan and phase is Phase.images_resume else None
    decision = decide(
        phase,
        night,
        plan=plan,
        latch=read_latch(tree.root),
        progress=progress,
        mode_override=RunMode(nightrun.mode_override) if nightrun.mode_override else None,
    )
    for note in decision.notes:
        context.log.info(f"{phase.value} {night}: {note}")
    if decision.skip is not None:
        return dg.SkipReason(decision.skip)
    return [run_request(r) for r in decision.requests]


def night_schedule(
    name: str, phase: Phase, job: AssetJob, description: str
) -> dg.ScheduleDefinition:
    """The schedule of one phase of the night: at the phase's time, Buenos Aires, it starts
    `job` with what `night.clock.decide` asks for."""

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=cron(phase),
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext, nightrun: NightrunResource) -> Evaluation:
        return evaluate(context, nightrun, phase)

    return _schedule


warmup_schedule = night_schedule(
    "warmup_schedule",
    Phase.warm_up,
    plan_night_job,
    "22:45: plan tonight (ComfyUI health, budgets, run mode by weekday or the nightrun "
    "resource's mode_override). Skips while a circuit breaker is latched.",
)
window_schedule = night_schedule(
    "window_schedule",
    Phase.window,
    night_jobs_job,
    "22:50: one night_jobs run per image job with a budget, highest priority first (the "
    "GPU turn lets one submit at a time; on a time plan each renders its share of the slice), "
    "starting at 23:00 (requested ten minutes early so they are ready) and stopping at 01:00 "
    "when a video job waits, else 08:00. "
    "Skips on maintenance nights, without a night plan or while a circuit breaker is "
    "latched.",
)
maintenance_schedule = night_schedule(
    "maintenance_schedule",
    Phase.maintenance,
    maintenance_job,
    "23:00 on maintenance nights (Sunday, or a maintenance plan): the maintenance job "
    "instead of renders (a latched breaker does not stop it). Skips on other nights.",
)
video_slice_schedule = night_schedule(
    "video_slice_schedule",
    Phase.video_slice,
    night_jobs_job,
    "00:50: one night_jobs run per video job with a budget; they submit from 01:00 (when the "
    "image runs give up the GPU) to 03:00.",
)
images_resume_schedule = night_schedule(
    "images_resume_schedule",
    Phase.images_resume,
    night_jobs_job,
    "02:50: after a video slice, image jobs with variants still pending render again from 03:00 "
    "until 08:00.",
)
cool_down_schedule = night_schedule(
    "cool_down_schedule",
    Phase.cool_down,
    cool_down_job,
    "07:30: the night's summary, contact sheet, Telegram report and temp cleanup. Runs "
    "while a circuit breaker is latched, and says the night was cut short.",
)
hard_stop_schedule = night_schedule(
    "hard_stop_schedule",
    Phase.hard_stop,
    close_night_job,
    "08:00: the window closes; records what was left for the next night. Runs even while "
    "a circuit breaker is latched (it only records).",
)


@dg.schedule(
    name="learning_schedule",
    job=learning_job,
    cron_schedule="0 23 * * 0",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Sunday 23:00: the `recipe_library` of the week that just closed (its Sunday to "
        "Saturday nights): winning recipes per product. Runs while a circuit breaker is "
        "latched (it sends nothing to ComfyUI)."
    ),
)
def learning_schedule(context: dg.ScheduleEvaluationContext, nightrun: NightrunResource):
    # Learning sends nothing to ComfyUI: a latched breaker does not stop it.
    when = context.scheduled_execution_time or datetime.now(TZ)
    with dg.partition_loading_context(effective_dt=when):
        # The week partition that just closed at the 22:45 warm-up (end_offset 0).
        week = week_partitions.get_last_partition_key()
    if week is None:
        return dg.SkipReason("no complete week yet")
    return [
        dg.RunRequest(
            run_key=f"learning:{week}",
            partition_key=week,
            tags={MODE_TAG: RunMode.maintenance.value, PHASE_TAG: Phase.maintenance.value},
        )
    ]


@dg.schedule(
    name="review_schedule",
    job=review_jobs_job,
    cron_schedule=["30 7 * * *", "15 8 * * *"],
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "07:30 (and 08:15, for jobs that rendered until the hard stop): each job's shortlist "
        "to the Telegram review chat, once per shortlist, latched breaker or not. Skips "
        "without a plan or when Telegram is not configured (approve with `nightrun approve`)."
    ),
)
def review_schedule(
    context: dg.ScheduleEvaluationContext, nightrun: NightrunResource, telegram: TelegramResource
):
    tree = nightrun.tree()
    # A latched breaker stops the GPU, not the review of what was rendered before it tripped.
    if not telegram.enabled():
        return dg.SkipReason(
            "Telegram is not configured (TELEGRAM_BOT_TOKEN, …): approve with `nightrun approve`"
        )
    night = night_of(context.scheduled_execution_time)
    try:
        plan = read_plan(tree, night)
    except UnreadablePlan as exc:
        return dg.SkipReason(str(exc))
    if plan is None:
        return dg.SkipReason(f"no night plan for {night}: nothing to review")
    ready = shortlists_to_review(tree, night, plan)
    if not ready:
        return dg.SkipReason(f"night {night}: no shortlist with picks yet")
    tags = {MODE_TAG: str(plan.mode), PHASE_TAG: Phase.cool_down.value}
    return [
        dg.RunRequest(
            run_key=f"review:{night}:{key}:{digest}",
            partition_key=night_job_key(night, key),
            tags=tags,
        )
        for key, digest in ready
    ]


NIGHT_SCHEDULES = [
    warmup_schedule,
    window_schedule,
    maintenance_schedule,
    video_slice_schedule,
    images_resume_schedule,
    cool_down_schedule,
    hard_stop_schedule,
    learning_schedule,
    review_schedule,
]
