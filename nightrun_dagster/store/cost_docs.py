"""`costs/cost_model.json`: seconds per render learnt from past nights' renders (per template,
version and endpoint), and the prior each template falls back on (plan.cost_model)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field

from nightrun_dagster.store.models import Document, DocumentAt, Part
from nightrun_dagster.store.paths import Tree


class CostSource(StrEnum):
    """Where an estimate of a render's seconds comes from, best first."""

    MEASURED = "measured"  # fitted on past renders' ComfyUI execution times
    METADATA = "metadata"  # the template's `_workflow_metadata.estimated_time`
    WARMUP = "warmup"  # the warm-up's preload render, taken as one render at the default shape
    DEFAULT = "default"  # nothing known: DEFAULT_PER_UNIT_S per cost unit


class FitMethod(StrEnum):
    """How an entry's line was fitted."""

    LINEAR = "linear"  # least squares, seconds = intercept + per_unit × units
    RATIO = "ratio"  # through zero, per_unit = Σ seconds / Σ units


class CostEntry(Part):
    """One (template, version, endpoint): seconds = intercept_s + per_unit_s × units."""

    template_id: str
    version: str
    endpoint: str
    intercept_s: float = 0.0
    per_unit_s: float
    method: FitMethod = FitMethod.RATIO
    samples: int = 0  # renders the fit used (cold renders and outliers left out)
    outliers: int = 0  # renders dropped as outliers
    cold: int = 0  # renders dropped because they loaded the models first (nothing cached)
    units_min: float = 0.0
    units_max: float = 0.0
    mae_pct: float = 0.0  # mean absolute error of the fit on its samples, in % of the seconds
    nights: list[str] = Field(default_factory=list)

    def seconds(self, units: float) -> float:
        return self.intercept_s + self.per_unit_s * units


class CostPrior(Part):
    """What a template costs before any render of it was measured."""

    template_id: str
    version: str
    units_at_default: float  # cost units of one render at the template's default shape
    seconds_at_default: float
    per_unit_s: float
    source: CostSource
    detail: str = ""  # e.g. the estimated_time text, or the warm-up nights


class CostModelDocument(Document):
    """The fitted cost model: the nights it learnt from, its entries and every known
    template's prior."""

    fitted_at: str | None = None
    before_night: str | None = None  # learnt from nights strictly before this one
    lookback_nights: int | None = None
    nights: list[str] = Field(default_factory=list)
    entries: list[CostEntry] = Field(default_factory=list)
    priors: list[CostPrior] = Field(default_factory=list)


# Durable: the night plan names this file as the basis of its budgets.
COST_MODEL = DocumentAt[CostModelDocument, Tree](
    CostModelDocument, lambda tree: tree.cost_model, durable=True
)
read_cost_model = COST_MODEL.read  # FileNotFoundError before the first fit
try_read_cost_model = COST_MODEL.try_read


def write_cost_model(tree: Tree, doc: CostModelDocument) -> Path:
    """Write the document atomically and durably; returns its path."""
    return COST_MODEL.write(tree, doc)
