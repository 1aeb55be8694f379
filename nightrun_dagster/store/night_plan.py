"""`runs/<night>/night_plan.json`: the run mode, the window and each job's render budget (and
its split over arms), as the 22:45 planning wrote it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from nightrun_dagster.store.models import (
    Document,
    Part,
    read_document,
    try_read_document,
    write_document,
)
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


def read_night_plan(night_dir: NightDir | Path) -> NightPlan:
    """The night's plan; FileNotFoundError when absent, DocumentError when damaged."""
    return read_document(as_night_dir(night_dir).night_plan, NightPlan)


def try_read_night_plan(night_dir: NightDir | Path) -> NightPlan | None:
    return try_read_document(as_night_dir(night_dir).night_plan, NightPlan)


def write_night_plan(night_dir: NightDir | Path, plan: NightPlan) -> Path:
    path = as_night_dir(night_dir).night_plan
    write_document(path, plan)
    return path
