"""Asset jobs a person launches or backfills from the UI."""

import dagster as dg

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
