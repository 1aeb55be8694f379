"""The night plan: active jobs, the run mode and each job's render budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import planned_count
from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.ops.budget import allocate_budgets
from nightrun_dagster.ops.night import window

DEFAULT_MAX_RENDERS_PER_NIGHT = 2000


@dataclass(frozen=True)
class JobPlan:
    key: str
    job_id: str
    priority: int
    template_id: str
    kind: str  # "image" or "video": video jobs render only in the video slice
    source: str
    sha256: str
    cap: int
    sweep_size: int
    demand: int  # variants the job would render with no nightly maximum
    budget: int  # variants it gets tonight
    blocked: dict[str, Any] | None = None  # warm-up found missing models/nodes: not rendered


def plan_night(
    night: str,
    mode: RunMode,
    jobs: list[ValidJob],
    max_renders: int,
    blocked: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The night's plan as a JSON-ready document (also written to `runs/<night>/`). A job in
    `blocked` (key -> what is missing) keeps its demand but gets no budget."""
    blocked = blocked or {}
    counts = {j.key: planned_count(j.job, mode, night, j.cap, j.template.defaults) for j in jobs}
    budgets = allocate_budgets(
        {k: 0 if k in blocked else demand for k, (demand, _) in counts.items()},
        {j.key: j.job.priority for j in jobs},
        max_renders,
    )
    plans = [
        JobPlan(
            key=j.key,
            job_id=j.job.job_id,
            priority=j.job.priority,
            template_id=j.template.template_id,
            kind=j.template.kind,
            source=j.source.name,
            sha256=j.sha256,
            cap=j.cap,
            sweep_size=counts[j.key][1],
            demand=counts[j.key][0],
            budget=budgets[j.key],
            blocked=blocked.get(j.key),
        )
        for j in sorted(jobs, key=lambda j: (-j.job.priority, j.key))
    ]
    start, end = window(night)
    return {
        "night": night,
        "mode": mode.value,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "max_renders": max_renders,
        "total_budget": sum(p.budget for p in plans),
        "total_demand": sum(p.demand for p in plans),
        "jobs": [p.__dict__ for p in plans],
    }


def job_budget(plan: dict[str, Any], key: str) -> int | None:
    """The budget the plan gives a job, or None if the job is not in the plan."""
    for entry in plan.get("jobs", []):
        if entry["key"] == key:
            return int(entry["budget"])
    return None
