"""Asset jobs a person launches or backfills from the UI."""

import dagster as dg

from nightrun_dagster.defs.assets.approval import approvals, publish_packages, telegram_review
from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.assets.selection import night_summary, scores, shortlist

plan_night_job = dg.define_asset_job(
    name="plan_night",
    selection=[night_plan],
    description="Plan a night: run mode, active jobs and their render budgets.",
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
