"""Per-job and per-night limits that validation and expansion enforce."""

from __future__ import annotations

from dataclasses import dataclass

from nightrun_dagster.creative_job.model import CreativeJob

MAX_SEED = 2**64 - 1  # ComfyUI's seed inputs are unsigned 64-bit


@dataclass(frozen=True)
class SpecLimits:
    """`cap` renders per job by default; `deep_search_ceiling` for jobs that opt in;
    `sweep_ceiling` rejects sweeps so large that planning them is itself unreasonable."""

    cap: int = 800
    deep_search_ceiling: int = 5000
    sweep_ceiling: int = 10_000_000


def deep_search(job: CreativeJob) -> bool:
    return (job.generation.model_extra or {}).get("deep_search") is True


def job_cap(job: CreativeJob, limits: SpecLimits) -> int:
    """The most variants this job may render in a night: `generation.max_variants` if set,
    else the default cap, or the deep-search ceiling for jobs that opt into deep search."""
    requested = (job.generation.model_extra or {}).get("max_variants")
    if isinstance(requested, int) and not isinstance(requested, bool) and requested >= 1:
        ceiling = limits.deep_search_ceiling if deep_search(job) else limits.cap
        return min(requested, ceiling)
    return limits.deep_search_ceiling if deep_search(job) else limits.cap
