"""The `nightrun` resource: the artifact root, where job paths point, and the limits."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from nightrun_dagster.intake.validate import Intake
from nightrun_dagster.plan.night import DEFAULT_MAX_RENDERS_PER_NIGHT
from nightrun_dagster.spec.limits import SpecLimits
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.workflows.templates import DEFAULT_WORKFLOWS_DIR


class NightrunResource(dg.ConfigurableResource):
    """Settings every stage shares. Paths are made absolute when the code location loads."""

    root: str = Field(description="Artifact root ($NIGHTRUN_ROOT): queue/, assets/, runs/.")
    assets_root: str | None = Field(
        default=None, description="Where job asset paths point; default <root>/assets."
    )
    workflows_dir: str = Field(
        default=str(DEFAULT_WORKFLOWS_DIR), description="Folder of ComfyUI workflow templates."
    )
    cap: int = Field(default=SpecLimits.cap, description="Variants per job per night.")
    deep_search_ceiling: int = Field(
        default=SpecLimits.deep_search_ceiling,
        description="Highest cap a job may ask for with generation.deep_search.",
    )
    sweep_ceiling: int = Field(
        default=SpecLimits.sweep_ceiling, description="Largest full sweep a job may declare."
    )
    max_renders_per_night: int = Field(
        default=DEFAULT_MAX_RENDERS_PER_NIGHT, description="Renders shared by all jobs a night."
    )
    queue_settle_seconds: float = Field(
        default=5.0, description="Queue files younger than this are left for the next tick."
    )

    def tree(self) -> Tree:
        return Tree(Path(self.root))

    def intake(self) -> Intake:
        assets = Path(self.assets_root) if self.assets_root else self.tree().assets
        limits = SpecLimits(self.cap, self.deep_search_ceiling, self.sweep_ceiling)
        return Intake(assets_root=assets, workflows_dir=Path(self.workflows_dir), limits=limits)
