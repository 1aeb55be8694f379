"""The code location `workspace.yaml` loads: every asset, sensor, job and resource."""

from pathlib import Path

import dagster as dg

from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.jobs import plan_jobs_job, plan_night_job
from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.defs.sensors import job_queue_sensor
from nightrun_dagster.store.paths import default_root


def build_defs(root: Path | None = None) -> dg.Definitions:
    """Definitions with the artifact root made absolute (runs may start in another folder)."""
    resolved = (root or default_root()).resolve()
    return dg.Definitions(
        assets=[night_plan, job_spec, variants],
        jobs=[plan_night_job, plan_jobs_job],
        sensors=[job_queue_sensor],
        resources={"nightrun": NightrunResource(root=str(resolved))},
    )


defs = build_defs()
