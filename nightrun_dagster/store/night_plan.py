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


class NightPlan(Document):
    night: str | None = None
    mode: str | None = None
    window: dict[str, str] | None = None
    max_renders: int | None = None
    total_budget: int | None = None
    total_demand: int | None = None
    jobs: list[PlannedJob] = Field(default_factory=list)
    warmup: str | None = None  # whether the warm-up ran before the plan

    def job(self, key: str) -> PlannedJob | None:
        return next((j for j in self.jobs if j.key == key), None)


NIGHT_PLAN = DocumentAt[NightPlan, NightDir | Path](
    NightPlan, lambda where: as_night_dir(where).night_plan
)
read_night_plan = NIGHT_PLAN.read  # FileNotFoundError when absent, DocumentError when damaged
try_read_night_plan = NIGHT_PLAN.try_read
write_night_plan = NIGHT_PLAN.write
