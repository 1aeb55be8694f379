"""The code location `workspace.yaml` loads: every asset, sensor, job and resource."""

import os
from pathlib import Path

import dagster as dg

from nightrun_dagster.defs.alerts import run_failure_alert
from nightrun_dagster.defs.assets.approval import approvals, publish_packages, telegram_review
from nightrun_dagster.defs.assets.learning import recipe_library
from nightrun_dagster.defs.assets.maintenance import retention
from nightrun_dagster.defs.assets.night_close import night_cleanup, night_close
from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.assets.selection import night_summary, scores, shortlist
from nightrun_dagster.defs.assets.warmup import warm_up
from nightrun_dagster.defs.breakers import BreakersResource, resume_night_job
from nightrun_dagster.defs.jobs import (
    approve_jobs_job,
    close_night_job,
    cool_down_job,
    learning_job,
    maintenance_job,
    night_jobs_job,
    plan_jobs_job,
    plan_night_job,
    review_jobs_job,
    summarize_night_job,
)
from nightrun_dagster.defs.resources import ComfyUIResource, NightrunResource, TelegramResource
from nightrun_dagster.defs.schedules import NIGHT_SCHEDULES
from nightrun_dagster.defs.sensors import approval_sensor, job_queue_sensor
from nightrun_dagster.store.paths import default_root


def telegram_from_env() -> TelegramResource:
    """Telegram from the environment: secrets as EnvVar (never shown in the UI), off if unset."""
    env = os.environ
    return TelegramResource(
        token=dg.EnvVar("TELEGRAM_BOT_TOKEN") if env.get("TELEGRAM_BOT_TOKEN") else "",
        signing_key=dg.EnvVar("NIGHTRUN_SIGNING_KEY") if env.get("NIGHTRUN_SIGNING_KEY") else "",
        review_chat_id=int(env.get("TELEGRAM_REVIEW_CHAT_ID") or 0),
        # approver_ids: $TELEGRAM_APPROVER_IDS, read and checked by the resource itself.
    )


def build_defs(root: Path | None = None, comfyui_url: str | None = None) -> dg.Definitions:
    """Definitions with the artifact root made absolute (runs may start in another folder)."""
    resolved = (root or default_root()).resolve()
    return dg.Definitions(
        assets=[
            warm_up,
            night_plan,
            job_spec,
            variants,
            renders,
            scores,
            shortlist,
            night_summary,
            telegram_review,
            approvals,
            publish_packages,
            night_cleanup,
            night_close,
            retention,
            recipe_library,
        ],
        jobs=[
            plan_night_job,
            plan_jobs_job,
            night_jobs_job,
            summarize_night_job,
            review_jobs_job,
            approve_jobs_job,
            cool_down_job,
            close_night_job,
            maintenance_job,
            learning_job,
            resume_night_job,
        ],
        schedules=NIGHT_SCHEDULES,
        sensors=[job_queue_sensor, approval_sensor, run_failure_alert],
        resources={
            "nightrun": NightrunResource(root=str(resolved)),
            # Without a URL: $COMFYUI_URL, else the local default (the resource reads it).
            "comfyui": ComfyUIResource(urls=comfyui_url) if comfyui_url else ComfyUIResource(),
            "breakers": BreakersResource(),
            "telegram": telegram_from_env(),
        },
    )


defs = build_defs()
