"""Asset jobs a person launches or backfills from the UI."""

from typing import Any

import dagster as dg

from nightrun_dagster.defs.assets.approval import approvals, publish_packages, telegram_review
from nightrun_dagster.defs.assets.learning import recipe_library
from nightrun_dagster.defs.assets.maintenance import retention
from nightrun_dagster.defs.assets.night_close import night_cleanup, night_close
from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.assets.selection import night_summary, scores, shortlist
from nightrun_dagster.defs.assets.warmup import warm_up


def asset_job(name: str, selection: list[Any], description: str) -> Any:
    """A job of the assets in `selection`, launched or backfilled by hand or by a schedule."""
    return dg.define_asset_job(name=name, selection=selection, description=description)


plan_night_job = asset_job(
    "plan_night",
    [warm_up, night_plan],
    (
        "22:45: warm up (ComfyUI health, models of every job, disk, backlog, preload) and plan "
        "the night: run mode, active jobs and their render budgets."
    ),
)

plan_jobs_job = asset_job(
    "plan_jobs",
    [job_spec, variants],
    "Snapshot a job's inputs and write its variants for a night (night × job).",
)

night_jobs_job = asset_job(
    "night_jobs",
    [job_spec, variants, renders, scores, shortlist],
    (
        "A job's whole night after planning: inputs, variants, renders, scores and the "
        "shortlist (night × job)."
    ),
)

summarize_night_job = asset_job(
    "summarize_night",
    [night_summary],
    "The night's summary and contact sheet, once its jobs are shortlisted.",
)

approve_jobs_job = asset_job(
    "approve_jobs",
    [approvals, publish_packages],
    "Fold a job's decisions and build the packages of what was approved (night × job).",
)

review_jobs_job = asset_job(
    "review_jobs",
    [telegram_review],
    "Send a job's shortlist to the Telegram review chat (night × job).",
)

cool_down_job = asset_job(
    "cool_down",
    [night_summary, night_cleanup],
    (
        "07:30: the night's summary and contact sheet, the Telegram report, and the cleanup of "
        "temp files (night)."
    ),
)

close_night_job = asset_job(
    "close_night",
    [night_close],
    "08:00: record how the night ended and what is left for the next one (night).",
)

maintenance_job = asset_job(
    "maintenance",
    [retention],
    (
        "Sunday 23:00 (maintenance nights): retention — old nights keep their top K renders, "
        "approved and published ones are archived, metadata stays (night)."
    ),
)

learning_job = asset_job(
    "learning",
    [recipe_library],
    "Sunday 23:00: the past week's recipe library, which the bandit plans from (week).",
)
