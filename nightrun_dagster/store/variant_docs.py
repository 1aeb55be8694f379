"""A variant's `meta/` documents: `params.json` (the plan, then the render record),
`prompt.json`, `submitted.json`, `comfy_history.json`, `score.json` and `retention.json`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field

from nightrun_dagster.store.atomic import atomic_write_json
from nightrun_dagster.store.documents import read_json
from nightrun_dagster.store.models import Document, DocumentAt, JobDocument, Part
from nightrun_dagster.store.paths import JobDir, VariantDir, as_job_dir, as_variant_dir

# Keys the render loop adds to params.json; everything else is the plan.
RENDER_KEYS = frozenset({"render", "server", "gpu"})


class RenderStatus(StrEnum):
    """`render.status` in params.json: the render loop writes it, everything after reads it."""

    OK = "ok"
    FAILED = "failed"


class RenderOutput(Part):
    """One downloaded output: paths relative to the variant folder, the file's size."""

    file: str | None = None
    preview: str | None = None
    bytes: int | None = None
    kind: str | None = None  # "image" or "video"


class RenderRecord(Part):
    """`render` in params.json: what the render loop did with the variant."""

    status: RenderStatus | None = None
    error: str | None = None  # a failed render: why
    prompt_id: str | None = None
    endpoint: str | None = None
    attempt: int | None = None
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    degrade_rung: str | None = None
    degrade_level: int | None = None
    # ComfyUI's execution_start -> execution_success, and the loop's submit -> done (seconds).
    server_s: float | None = None
    elapsed_s: float | None = None
    outputs: list[RenderOutput] = Field(default_factory=list)
    models: dict[str, Any] = Field(default_factory=dict)
    rendered_at: str | None = None
    failed_at: str | None = None
    # The graph's nodes ComfyUI served from its cache (execution_cached); none: a cold render.
    cached_nodes: list[str] | None = None


class VariantParams(JobDocument):
    """`meta/params.json`: everything that reproduces the render (the plan's keys: prompt, seed,
    LoRAs, sampler … kept as written), then what the render loop adds (`RENDER_KEYS`)."""

    params_version: int | None = None
    mode: str | None = None
    variant_id: str | None = None
    template: dict[str, Any] | None = None
    render: RenderRecord | None = None
    server: dict[str, Any] | None = None
    gpu: dict[str, Any] | None = None

    def plan(self) -> dict[str, Any]:
        """The planned part as written (no schema, no render record): what a graph is built
        from and what a new plan is compared with."""
        data = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return {k: v for k, v in data.items() if k != "schema" and k not in RENDER_KEYS}

    def as_dict(self) -> dict[str, Any]:
        """The whole document as JSON data (for code that hands params on as a mapping)."""
        data = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        data.pop("schema", None)
        return data

    @property
    def status(self) -> RenderStatus | None:
        return self.render.status if self.render else None


class Submitted(Document):
    """`meta/submitted.json`: the prompt id on a server, written before the POST and removed
    once the render is recorded (a killed run asks the server about it)."""

    prompt_id: str
    endpoint: str | None = None
    rung: int = 0
    attempt: int | None = None
    submitted_at: str | None = None


class ComfyHistory(Document):
    """`meta/comfy_history.json`: ComfyUI's history of the prompt, kept raw (prompt id ->
    history entry)."""

    @classmethod
    def of(cls, prompt_id: str, history: Any) -> ComfyHistory:
        return cls.model_validate({prompt_id: history})

    def prompts(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ScoredOutput(Part):
    file: str | None = None
    total: float | None = None
    # None: an output the scorer could not read (its total is then 0, `error` says why).
    components: dict[str, Any] | None = Field(default_factory=dict)
    error: str | None = None


class ScoreDocument(Document):
    """`meta/score.json`: every output scored, `best` the index of the best one."""

    score_version: int | None = None
    variant_id: str | None = None
    outputs: list[ScoredOutput] = Field(default_factory=list)
    total: float | None = None
    best: int = 0
    scored_at: str | None = None
    inputs_sha256: str | None = None
    scorer_version: int | None = None

    def best_output(self) -> ScoredOutput | None:
        return self.outputs[self.best] if 0 <= self.best < len(self.outputs) else None


class PrunedFile(Part):
    bytes: int | None = None
    pruned_at: str | None = None


class RetentionMarker(Document):
    """`meta/retention.json`: the outputs retention removed on purpose (relative path ->
    size and when), written before they go."""

    retention_version: int | None = None
    policy: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, PrunedFile] = Field(default_factory=dict)


# Sparse: the plan writes the file, the render loop adds its keys; unset fields stay absent.
PARAMS = DocumentAt[VariantParams, VariantDir | Path](
    VariantParams, lambda where: as_variant_dir(where).params, sparse=True
)
SUBMITTED = DocumentAt[Submitted, VariantDir | Path](
    Submitted, lambda where: as_variant_dir(where).submitted
)
COMFY_HISTORY = DocumentAt[ComfyHistory, VariantDir | Path](
    ComfyHistory, lambda where: as_variant_dir(where).comfy_history
)
SCORE = DocumentAt[ScoreDocument, VariantDir | Path](
    ScoreDocument, lambda where: as_variant_dir(where).score
)
RETENTION = DocumentAt[RetentionMarker, VariantDir | Path](
    RetentionMarker, lambda where: as_variant_dir(where).retention
)

# Each takes the variant folder (VariantDir or its path). read_*: FileNotFoundError when
# absent, DocumentError when damaged; try_read_*: None for either.
read_variant_params = PARAMS.read
try_read_params = PARAMS.try_read
write_params = PARAMS.write
params_bytes = PARAMS.file.bytes  # for a `variants/` folder written all at once
try_read_submitted = SUBMITTED.try_read
write_submitted = SUBMITTED.write
read_comfy_history = COMFY_HISTORY.read
write_comfy_history = COMFY_HISTORY.write
try_read_score = SCORE.try_read
write_score = SCORE.write
try_read_retention_marker = RETENTION.try_read
write_retention_marker = RETENTION.write


def render_status(params: VariantParams | dict[str, Any] | None) -> RenderStatus | None:
    """What params.json says of the variant's render; None: not rendered yet (or unreadable).
    Takes the document or, for files read as plain JSON, its data."""
    if isinstance(params, VariantParams):
        return params.status
    render = params.get("render") if isinstance(params, dict) else None
    status = render.get("status") if isinstance(render, dict) else None
    try:
        return RenderStatus(status) if isinstance(status, str) else None
    except ValueError:
        return None


def read_params(job_dir: JobDir | Path, variant_id: str) -> VariantParams:
    """FileNotFoundError when the variant was not planned, DocumentError when damaged."""
    return PARAMS.read(as_job_dir(job_dir).variant_dir(variant_id))


def write_prompt(variant: VariantDir | Path, graph: dict[str, Any]) -> None:
    """`meta/prompt.json`: the graph exactly as POSTed (ComfyUI's API format, not a Document:
    it is the server's shape, sent again as is)."""
    atomic_write_json(as_variant_dir(variant).prompt, graph)


def read_prompt(variant: VariantDir | Path) -> dict[str, Any]:
    return read_json(as_variant_dir(variant).prompt)


def clear_submitted(variant: VariantDir | Path) -> None:
    as_variant_dir(variant).submitted.unlink(missing_ok=True)
