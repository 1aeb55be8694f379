"""`runs/<night>/night_plan.json`: the run mode, the window and each job's render budget (and
its split over arms), as the 22:45 planning wrote it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from nightrun_dagster.store.models import Document, DocumentAt, Part
from nightrun_dagster.store.paths import NightDir, as_night_dir


class PlannedJob(Part):
    """One job of the plan (plan.night.JobPlan as written)."""

    key: str
    job_id: str | None = None
    priority: int = 0
    template_id: str | None = None
    kind: str = "image"  # video jobs render only in the video slice
    source: str | None = None
    sha256: str | None = None
    cap: int = 0
    sweep_size: int = 0
    demand: int = 0
    budget: int = 0
    blocked: dict[str, Any] | None = None  # the warm-up found missing models/nodes
    exploration_share: float | None = None
    arms: list[dict[str, Any]] | None = None  # the bandit's split of the budget
    # A time plan's figures: GPU seconds per render (and where that comes from), the seconds
    # the job's budget and extras take, exploration extras, and when it should start and end.
    seconds_per_render: float | None = None
    cost_source: str | None = None
    est_seconds: float | None = None
    extra: int = 0
    reserve: int = 0  # more of its demand, written last, rendered only in spare time
    expected_start: str | None = None
    expected_finish: str | None = None


class PlannedSlice(Part):
    """A GPU slice of a time plan: its stretches of the night, the GPU seconds it offers (after
    the margin), what the plan fills, and when its GPU is free when the work ends early."""

    name: str
    spans: list[list[str | None]] = Field(default_factory=list)
    gpu_seconds: float = 0.0
    planned_seconds: float = 0.0
    free_at: str | None = None


class NightPlan(Document):
    night: str | None = None
    mode: str | None = None
    basis: str = "count"  # "time" (GPU seconds by measured costs) or "count" (older plans)
    window: dict[str, str] | None = None
    max_renders: int | None = None
    total_budget: int | None = None
    total_extra: int = 0
    total_demand: int | None = None
    jobs: list[PlannedJob] = Field(default_factory=list)
    warmup: str | None = None  # whether the warm-up ran before the plan
    endpoints: int | None = None
    slices: list[PlannedSlice] = Field(default_factory=list)
    planned_seconds: float | None = None
    expected_utilization: float | None = None
    gpu_free_at: str | None = None  # the planned work ends before 08:00: the GPU is free then
    cost_model: str | None = None  # the cost document the plan read, and when it was fitted

    def job(self, key: str) -> PlannedJob | None:
        return next((j for j in self.jobs if j.key == key), None)


NIGHT_PLAN = DocumentAt[NightPlan, NightDir | Path](
    NightPlan, lambda where: as_night_dir(where).night_plan
)
read_night_plan = NIGHT_PLAN.read  # FileNotFoundError when absent, DocumentError when damaged
try_read_night_plan = NIGHT_PLAN.try_read
write_night_plan = NIGHT_PLAN.write
