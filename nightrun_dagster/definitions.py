"""The code location `workspace.yaml` loads: every asset, sensor, job and resource."""

import os
from pathlib import Path

import dagster as dg

from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.assets.selection import night_summary, scores, shortlist
from nightrun_dagster.defs.jobs import (
    night_jobs_job,
    plan_jobs_job,
    plan_night_job,
    summarize_night_job,
)
from nightrun_dagster.defs.resources import ComfyUIResource, NightrunResource
from nightrun_dagster.defs.sensors import job_queue_sensor
from nightrun_dagster.store.paths import default_root

DEFAULT_COMFYUI_URL = "http://127.0.0.1:8188"


def build_defs(root: Path | None = None, comfyui_url: str | None = None) -> dg.Definitions:
    """Definitions with the artifact root made absolute (runs may start in another folder)."""
    resolved = (root or default_root()).resolve()
    urls = comfyui_url or os.environ.get("COMFYUI_URL") or DEFAULT_COMFYUI_URL
    return dg.Definitions(
        assets=[night_plan, job_spec, variants, renders, scores, shortlist, night_summary],
        jobs=[plan_night_job, plan_jobs_job, night_jobs_job, summarize_night_job],
        sensors=[job_queue_sensor],
        resources={
            "nightrun": NightrunResource(root=str(resolved)),
            "comfyui": ComfyUIResource(urls=urls),
        },
    )


defs = build_defs()
