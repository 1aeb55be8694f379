"""The night plan: active jobs, the run mode and each job's render budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nightrun_dagster.expand.arms import arm_capacity, covering_order, sweep_arms
from nightrun_dagster.expand.axes import build_axes, sweep_size
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.learning.bandit import Allocation, ArmStats, BanditConfig, allocate
from nightrun_dagster.night.budget import allocate_budgets
from nightrun_dagster.night.window import window

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
    # The bandit's split of `budget` over the sweep's arms (None when planned without evidence).
    exploration_share: float | None = None
    arms: list[dict[str, Any]] | None = None


def plan_night(
    night: str,
    mode: RunMode,
    jobs: list[ValidJob],
    max_renders: int,
    blocked: Mapping[str, dict[str, Any]] | None = None,
    *,
    evidence: Mapping[str, Mapping[str, ArmStats]] | None = None,
    bandit: BanditConfig | None = None,
) -> dict[str, Any]:
    """The night's plan as a JSON-ready document (also written to `runs/<night>/`). A job in
    `blocked` (key -> what is missing) keeps its demand but gets no budget.

    With `evidence` (job key -> arm key -> past shown/approved, {} for none) each job's budget
    is also split over its arms (template × prompt family × LoRA set) by the bandit
    (`learning.bandit.allocate`): its entry gets `exploration_share` and `arms`, a list of
    {arm, label, share, budget, shown, approved, win_rate}, which `variants` follows."""
    blocked = blocked or {}
    axes = {j.key: build_axes(j.job, mode, night, j.template.defaults) for j in jobs}
    counts = {}
    for j in jobs:
        size = sweep_size(axes[j.key])
        counts[j.key] = (min(size, max(j.cap, 0)), size)
    budgets = allocate_budgets(
        {k: 0 if k in blocked else demand for k, (demand, _) in counts.items()},
        {j.key: j.job.priority for j in jobs},
        max_renders,
    )
    splits: dict[str, tuple[Allocation, dict[str, str]]] = {}
    if evidence is not None:
        config = bandit or BanditConfig()
        for j in jobs:
            arms = sweep_arms(axes[j.key], j.template.template_id)
            split = allocate(
                [a.key for a in covering_order(arms)],
                evidence.get(j.key, {}),
                budgets[j.key],
                night=night,
                salt=j.key,
                mode=mode,
                capacity=arm_capacity(axes[j.key]),
                exploration_floor=config.exploration_floor,
                start_exploration=config.start_exploration,
                evidence_scale=config.evidence_scale,
                draws=config.draws,
            )
            splits[j.key] = (split, {a.key: a.label for a in arms})
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
            **_arm_fields(splits.get(j.key)),
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


def _arm_fields(split: tuple[Allocation, dict[str, str]] | None) -> dict[str, Any]:
    if split is None:
        return {}
    allocation, labels = split
    rows = {a.arm: a for a in allocation.arms}
    return {
        "exploration_share": round(allocation.exploration_share, 4),
        # In product order (prompt by prompt), the way people read a sweep.
        "arms": [{**rows[k].as_dict(), "label": label} for k, label in labels.items()],
    }


def job_arm_budgets(plan: dict[str, Any], key: str) -> dict[str, int] | None:
    """Arm key -> variants the plan gives each arm of a job; None when the plan has no split
    for it (planned without evidence, or the job is not in the plan)."""
    for entry in plan.get("jobs", []):
        if entry["key"] == key:
            arms = entry.get("arms")
            return None if arms is None else {a["arm"]: int(a["budget"]) for a in arms}
    return None
