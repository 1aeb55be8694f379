"""What one render of each job costs tonight, from the cost model: the job's typical shape
(a sample of its variants) priced on every endpoint at its own measured speed."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import expand_job
from nightrun_dagster.intake.planned import params_document
from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.plan.cost_model import CostModel, render_units
from nightrun_dagster.plan.night_plan import JobCost
from nightrun_dagster.plan.time_shares import effective_cost

# Variants sampled to price a job: the same covering selection the night uses, so its mix of
# steps, sizes and LoRAs is the night's.
SAMPLE_VARIANTS = 64


def job_units(found: ValidJob, mode: RunMode, night: str) -> float:
    """The mean cost units (pixels × steps × frames, LoRA and ControlNet factors) of the job's
    variants tonight."""
    sample = expand_job(
        found.job, mode, night, min(found.cap, SAMPLE_VARIANTS), found.template.defaults
    )
    if not sample.variants:
        return 0.0
    return fmean(render_units(params_document(found, sample, v)) for v in sample.variants)


def job_costs(
    jobs: Sequence[ValidJob], mode: RunMode, night: str, model: CostModel, endpoints: Sequence[str]
) -> dict[str, JobCost]:
    """Job key -> GPU seconds per render (the harmonic mean over the endpoints, each at its own
    speed) and where the figure comes from."""
    costs = {}
    for found in jobs:
        units = job_units(found, mode, night)
        estimates = [
            model.estimate(found.template.template_id, found.template.version, units, url)
            for url in endpoints or [None]
        ]
        sources = sorted({str(e.source) for e in estimates})
        costs[found.key] = JobCost(
            effective_cost([e.seconds for e in estimates]), ", ".join(sources)
        )
    return costs
