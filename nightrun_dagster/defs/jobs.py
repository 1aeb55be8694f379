"""Asset jobs a person launches or backfills from the UI."""

import dagster as dg

from nightrun_dagster.defs.assets.approval import approvals, publish_packages, telegram_review
from nightrun_dagster.defs.assets.learning import recipe_library
from nightrun_dagster.defs.assets.maintenance import retention
from nightrun_dagster.defs.assets.night_close import night_cleanup, night_close
from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.assets.selection import night_summary, scores, shortlist
from nightrun_dagster.defs.assets.warmup import warm_up

plan_night_job = dg.define_asset_job(
    name="plan_night",
    selection=[warm_up, night_plan],
    description=(
        "22:45: warm up (ComfyUI health, models of every job, disk, backlog, preload) and plan "
        "the night: run mode, active jobs and their render budgets."
    ),
)

plan_jobs_job = dg.define_asset_job(
    name="plan_jobs",
    selection=[job_spec, variants],
    description="Snapshot a job's inputs and write its variants for a night (night × job).",
)

night_jobs_job = dg.define_asset_job(
    name="night_jobs",
    selection=[job_spec, variants, renders, scores, shortlist],
    description=(
        "A job's whole night after planning: inputs, variants, renders, scores and the "
        "shortlist (night × job)."
    ),
)

summarize_night_job = dg.define_asset_job(
    name="summarize_night",
    selection=[night_summary],
    description="The night's summary and contact sheet, once its jobs are shortlisted.",
)

approve_jobs_job = dg.define_asset_job(
    name="approve_jobs",
    selection=[approvals, publish_packages],
    description="Fold a job's decisions and build the packages of what was approved (night × job).",
)

review_jobs_job = dg.define_asset_job(
    name="review_jobs",
    selection=[telegram_review],
    description="Send a job's shortlist to the Telegram review chat (night × job).",
)

cool_down_job = dg.define_asset_job(
    name="cool_down",
    selection=[night_summary, night_cleanup],
    description=(
        "07:30: the night's summary and contact sheet, the Telegram report, and the cleanup of "
        "temp files (night)."
    ),
)

close_night_job = dg.define_asset_job(
    name="close_night",
    selection=[night_close],
    description="08:00: record how the night ended and what is left for the next one (night).",
)

maintenance_job = dg.define_asset_job(
    name="maintenance",
    selection=[retention],
    description=(
        "Sunday 23:00 (maintenance nights): retention — old nights keep their top K renders, "
        "approved and published ones are archived, metadata stays (night)."
    ),
)

learning_job = dg.define_asset_job(
    name="learning",
    selection=[recipe_library],
    description="Sunday 23:00: the past week's recipe library, which the bandit plans from (week).",
)
