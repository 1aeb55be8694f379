"""The night plan: active jobs, the run mode and each job's render budget, shared in GPU time
(or, the older way, as a count of renders)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from nightrun_dagster.expand.arms import arm_capacity, covering_order, sweep_arms
from nightrun_dagster.expand.axes import build_axes, sweep_size
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.learning.bandit import Allocation, ArmStats, BanditConfig, allocate
from nightrun_dagster.night.budget import allocate_budgets
from nightrun_dagster.night.window import VIDEO_SLICE_END, VIDEO_SLICE_START, at, window
from nightrun_dagster.plan.time_shares import (
    Slice,
    SliceName,
    SliceShares,
    TimeJob,
    fill_count,
    share_slice,
    timeline,
)

DEFAULT_MAX_RENDERS_PER_NIGHT = 2000
# A time plan's jobs get this much more of their unrendered demand written as reserve variants:
# a night that runs faster than planned renders them instead of leaving the GPU idle.
RESERVE_FRACTION = 0.15


class PlanBasis(StrEnum):
    """How budgets are shared: GPU time by measured render costs, or a count of renders."""

    TIME = "time"
    COUNT = "count"


@dataclass(frozen=True)
class JobCost:
    """What one render of a job costs in GPU seconds (averaged over the endpoints at their
    speeds) and where the figure comes from (measured, or which prior)."""

    seconds_per_render: float
    source: str


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
    # The time plan's figures (None on a count plan without costs).
    seconds_per_render: float | None = None
    cost_source: str | None = None
    est_seconds: float | None = None
    extra: int = 0  # exploration extras: more seeds than its sweep, in time the night has spare
    expected_start: str | None = None
    expected_finish: str | None = None
    reserve: int = 0  # more of its demand, written last, rendered only in spare time


def plan_night(
    night: str,
    mode: RunMode,
    jobs: list[ValidJob],
    max_renders: int,
    blocked: Mapping[str, dict[str, Any]] | None = None,
    *,
    evidence: Mapping[str, Mapping[str, ArmStats]] | None = None,
    bandit: BanditConfig | None = None,
    costs: Mapping[str, JobCost] | None = None,
    basis: PlanBasis = PlanBasis.TIME,
    endpoints: int = 1,
) -> dict[str, Any]:
    """The night's plan as a JSON-ready document (also written to `runs/<night>/`). A job in
    `blocked` (key -> what is missing) keeps its demand but gets no budget.

    With `costs` (job key -> what a render costs) and the TIME basis, each slice's GPU seconds
    (images: the window less the video slice when a video job renders; video: 01:00–03:00; on
    `endpoints` GPUs) are shared among its jobs by priority + 1 and turned into renders; what a
    job cannot use flows to the others; in exploration mode what is still free goes to more
    seeds of jobs whose sweep is below their cap (`extra`). `max_renders` stays a ceiling. On
    the COUNT basis `max_renders` is shared by priority (costs, when given, only estimate the
    time). Each job gets its estimated seconds and expected finish, the night its expected
    utilization and, when the work ends early, when the GPU is free.

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
    demands = {k: 0 if k in blocked else demand for k, (demand, _) in counts.items()}
    priorities = {j.key: j.job.priority for j in jobs}
    slices = night_slices(night, jobs, demands, endpoints) if costs is not None else []
    if basis is PlanBasis.TIME and costs is not None:
        room = {
            j.key: max(j.cap - demands[j.key], 0)
            if mode is RunMode.exploration and j.key not in blocked and demands[j.key]
            else 0
            for j in jobs
        }
        shares = _time_shares(slices, jobs, demands, room, costs, max_renders)
        budgets = {k: s.renders for sh in shares for k, s in sh.jobs.items()}
        extras = {k: s.extra for sh in shares for k, s in sh.jobs.items()}
        planned = sum(budgets.values()) + sum(extras.values())
        spare = reserves(demands, budgets, priorities, max_renders - planned)
    else:
        budgets = allocate_budgets(demands, priorities, max_renders)
        extras, spare = {}, {}
        shares = [
            timeline(sl, _time_jobs(sl, jobs, demands, {}, costs), budgets)
            for sl in slices
            if costs is not None
        ]
    budgets = {j.key: budgets.get(j.key, 0) for j in jobs}
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
    timing = {k: s for sh in shares for k, s in sh.jobs.items()}
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
            **_time_fields(costs, timing, extras, j.key),
            reserve=spare.get(j.key, 0),
        )
        for j in sorted(jobs, key=lambda j: (-j.job.priority, j.key))
    ]
    start, end = window(night)
    plan: dict[str, Any] = {
        "night": night,
        "mode": mode.value,
        "basis": basis.value if costs is not None else PlanBasis.COUNT.value,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "max_renders": max_renders,
        "total_budget": sum(p.budget for p in plans),
        "total_extra": sum(p.extra for p in plans),
        "total_demand": sum(p.demand for p in plans),
        "jobs": [p.__dict__ for p in plans],
    }
    if costs is not None:
        plan.update(_night_figures(shares, start, end, endpoints))
    return plan


def night_slices(
    night: str, jobs: list[ValidJob], demands: Mapping[str, int], endpoints: int
) -> list[Slice]:
    """The window as GPU slices: video 01:00–03:00 when a video job has demand, images the rest
    (all of 23:00–08:00 without video jobs)."""
    start, end = window(night)
    video = any(j.template.kind == "video" and demands.get(j.key, 0) > 0 for j in jobs)
    if not video:
        return [Slice(SliceName.IMAGES, ((start, end),), endpoints)]
    v_start, v_end = at(night, VIDEO_SLICE_START), at(night, VIDEO_SLICE_END)
    return [
        Slice(SliceName.IMAGES, ((start, v_start), (v_end, end)), endpoints),
        Slice(SliceName.VIDEO, ((v_start, v_end),), endpoints),
    ]


def slice_of(kind: str) -> SliceName:
    return SliceName.VIDEO if kind == "video" else SliceName.IMAGES


def _time_jobs(
    sl: Slice,
    jobs: list[ValidJob],
    demands: Mapping[str, int],
    room: Mapping[str, int],
    costs: Mapping[str, JobCost] | None,
) -> list[TimeJob]:
    return [
        TimeJob(
            j.key,
            j.job.priority,
            sl.name,
            costs[j.key].seconds_per_render if costs else 0.0,
            demands[j.key],
            room.get(j.key, 0),
        )
        for j in jobs
        if slice_of(j.template.kind) is sl.name
    ]


def _time_shares(
    slices: list[Slice],
    jobs: list[ValidJob],
    demands: Mapping[str, int],
    room: Mapping[str, int],
    costs: Mapping[str, JobCost],
    max_renders: int,
) -> list[SliceShares]:
    """Each slice shared on its own; the video slice first (it is short and fixed), so the
    night's `max_renders` ceiling leaves the images what the videos did not take. Extras come
    last, from what the ceiling leaves once every job's demand is planned."""
    ordered = sorted(slices, key=lambda s: s.name is not SliceName.VIDEO)
    left, ceilings = max(max_renders, 0), {}
    for sl in ordered:
        ceilings[sl.name] = left
        shares = share_slice(
            sl, _time_jobs(sl, jobs, demands, room, costs), extras=False, ceiling=left
        )
        left -= sum(s.renders for s in shares.jobs.values())
    out = []
    for sl in ordered:
        shares = share_slice(
            sl,
            _time_jobs(sl, jobs, demands, room, costs),
            extras=any(room.values()),
            ceiling=ceilings[sl.name],
            extra_ceiling=left,
        )
        left -= sum(s.extra for s in shares.jobs.values())
        out.append(shares)
    return out


def _time_fields(
    costs: Mapping[str, JobCost] | None,
    timing: Mapping[str, Any],
    extras: Mapping[str, int],
    key: str,
) -> dict[str, Any]:
    if costs is None or key not in costs:
        return {}
    share = timing.get(key)
    return {
        "seconds_per_render": round(costs[key].seconds_per_render, 3),
        "cost_source": costs[key].source,
        "est_seconds": round(share.seconds, 1) if share else 0.0,
        "extra": extras.get(key, 0),
        "expected_start": _iso(share.start) if share else None,
        "expected_finish": _iso(share.finish) if share else None,
    }


def _night_figures(
    shares: list[SliceShares], start: datetime, end: datetime, endpoints: int
) -> dict[str, Any]:
    window_gpu_s = (end - start).total_seconds() * endpoints
    planned = sum(sh.planned_seconds for sh in shares)
    free = [sh.free_at for sh in shares if sh.free_at is not None]
    images = next((sh for sh in shares if sh.slice.name is SliceName.IMAGES), None)
    return {
        "endpoints": endpoints,
        "slices": [
            {
                "name": sh.slice.name.value,
                "spans": [[_iso(a), _iso(b)] for a, b in sh.slice.spans],
                "gpu_seconds": round(sh.gpu_seconds, 1),
                "planned_seconds": round(sh.planned_seconds, 1),
                "free_at": _iso(sh.free_at),
            }
            for sh in shares
        ],
        "planned_seconds": round(planned, 1),
        "expected_utilization": round(planned / window_gpu_s, 4) if window_gpu_s else 0.0,
        # When the last planned render ends before 08:00 (the images slice, the night's last).
        "gpu_free_at": _iso(images.free_at)
        if images and images.free_at
        else (_iso(max(free)) if free and not images else None),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


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


def reserves(
    demands: Mapping[str, int],
    budgets: Mapping[str, int],
    priorities: Mapping[str, int],
    room: int,
) -> dict[str, int]:
    """Reserve variants per job on a time plan: up to RESERVE_FRACTION of its budget more of
    the demand its budget leaves out, within the `room` the night's ceiling still has (shared
    by priority when short): a reserve never takes the night past `max_renders`."""
    wants = {
        k: min(max(demands[k] - budgets.get(k, 0), 0), math.ceil(RESERVE_FRACTION * b))
        for k, b in budgets.items()
        if b > 0
    }
    if sum(wants.values()) > room:
        return fill_count(wants, priorities, max(room, 0))
    return wants


def job_arm_budgets(plan: dict[str, Any], key: str) -> dict[str, int] | None:
    """Arm key -> variants the plan gives each arm of a job; None when the plan has no split
    for it (planned without evidence, or the job is not in the plan)."""
    for entry in plan.get("jobs", []):
        if entry["key"] == key:
            arms = entry.get("arms")
            return None if arms is None else {a["arm"]: int(a["budget"]) for a in arms}
    return None
