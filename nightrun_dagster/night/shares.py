"""Keeping the plan's promise during the night: when a job's run takes the GPU, its share of
the time left in its slice, in proportion to the work each job still has, at measured costs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from nightrun_dagster.store.night_plan import NightPlan, PlannedJob
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.variant_state import RenderStatus, is_complete, read_params
from nightrun_dagster.store.variants_index import try_read_variants_index

# Renders of a job tonight before its own measured cost replaces the plan's estimate.
MIN_MEASURED = 3


@dataclass(frozen=True)
class Measured:
    renders: int
    seconds: float

    @property
    def per_render(self) -> float | None:
        return self.seconds / self.renders if self.renders else None


@dataclass(frozen=True)
class Share:
    """A job's time share: `until` None means to the slice's end (nothing after it waits)."""

    until: datetime | None
    own_s: float  # GPU seconds its pending variants take at its cost
    later_s: float  # the same for the jobs after it in the slice
    left_s: float  # seconds to the slice's end
    cost: float  # seconds per render it was counted at
    measured: bool  # the cost is tonight's own measurement

    def describe(self) -> str:
        cost = f"{self.cost:.1f} s/render ({'measured tonight' if self.measured else 'planned'})"
        if self.until is None:
            return f"its share runs to the slice's end ({self.own_s:.0f} s of work, {cost})"
        return (
            f"its share ends at {self.until.isoformat(timespec='seconds')}: "
            f"{self.left_s:.0f} s left in the slice for {self.own_s:.0f} s of its work and "
            f"{self.later_s:.0f} s of the jobs after it, {cost}"
        )


def measured(job_dir: JobDir) -> Measured:
    """Tonight's rendered variants of the job and their server seconds."""
    index = try_read_variants_index(job_dir)
    renders, seconds = 0, 0.0
    for vid in index.variants if index else []:
        try:
            params = read_params(job_dir, str(vid))
        except (OSError, ValueError):
            continue
        render = params.render
        server_s = getattr(render, "server_s", None) if render else None
        if render is None or render.status != RenderStatus.OK or not server_s:
            continue
        renders += 1
        seconds += float(server_s)
    return Measured(renders, seconds)


def planned_pending(job_dir: JobDir, planned: int) -> int:
    """The job's promised variants (not its reserve) not complete yet; `planned` when its
    variants are not written yet."""
    index = try_read_variants_index(job_dir)
    if index is None:
        return planned
    return sum(1 for vid in index.planned() if not is_complete(job_dir, vid))


def same_slice(plan: NightPlan, kind: str) -> list[PlannedJob]:
    """The plan's jobs of `kind` with work tonight, in the order their runs start."""
    jobs = [j for j in plan.jobs if j.kind == kind and (j.budget + j.extra) > 0 and not j.blocked]
    return sorted(jobs, key=lambda j: (-j.priority, j.key))


def time_share(
    tree: Tree, night: str, plan: NightPlan, key: str, now: datetime, end: datetime
) -> Share | None:
    """The share of job `key` from `now` to its slice's `end`, or None on a plan without time
    figures (a count plan) or without the job. The time left is shared in proportion to each
    job's remaining work (pending variants × cost): a night running slower than planned shrinks
    every job's share alike, one running faster gives each more than it needs, which flows on
    to the jobs after it."""
    entry = plan.job(key)
    if entry is None or plan.basis != "time" or not entry.seconds_per_render:
        return None
    order = same_slice(plan, entry.kind)
    mine = next((i for i, j in enumerate(order) if j.key == key), None)
    if mine is None:
        return None
    seen = {j.key: measured(tree.job(night, j.key)) for j in order}
    planned = sum(j.seconds_per_render * seen[j.key].renders for j in order if j.seconds_per_render)
    actual = sum(m.seconds for m in seen.values())
    # Jobs not measured yet tonight run as much slower or faster than planned as the others.
    ratio = actual / planned if planned > 0 and actual > 0 else 1.0

    def cost(j: PlannedJob) -> tuple[float, bool]:
        m = seen[j.key]
        if m.renders >= MIN_MEASURED and m.per_render:
            return m.per_render, True
        return (j.seconds_per_render or 0.0) * ratio, False

    def work(j: PlannedJob) -> float:
        return planned_pending(tree.job(night, j.key), j.budget + j.extra) * cost(j)[0]

    own, later = work(entry), sum(work(j) for j in order[mine + 1 :])
    left = max((end - now).total_seconds(), 0.0)
    own_cost, own_measured = cost(entry)
    if later <= 0 or own <= 0:
        return Share(None, own, later, left, own_cost, own_measured)
    until = now + timedelta(seconds=left * own / (own + later))
    return Share(until, own, later, left, own_cost, own_measured)
