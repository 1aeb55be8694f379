"""One entry point for every check a job file must pass, used by the sensor, runs and the CLI."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from nightrun_dagster.expand.axes import build_axes, sweep_size
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.spec.checks import CheckContext, semantic_problems
from nightrun_dagster.spec.errors import (
    DOCUMENT_FIELD,
    JSON_FIELD,
    JobSpecInvalid,
    SpecError,
    from_validation_error,
)
from nightrun_dagster.spec.json_types import json_type_name
from nightrun_dagster.spec.limits import SpecLimits, job_cap
from nightrun_dagster.spec.model import CreativeJob
from nightrun_dagster.spec.slug import job_key
from nightrun_dagster.workflows.templates import DEFAULT_WORKFLOWS_DIR, Template, template_registry


@dataclass(frozen=True)
class Intake:
    """Where job files' relative paths point, and the limits they must respect."""

    assets_root: Path
    workflows_dir: Path = DEFAULT_WORKFLOWS_DIR
    limits: SpecLimits = field(default_factory=SpecLimits)

    def templates(self) -> dict[str, Template]:
        return template_registry(self.workflows_dir)

    def check_context(self) -> CheckContext:
        names = {tid: t.path.name for tid, t in self.templates().items()}
        return CheckContext(self.assets_root, self.workflows_dir, names, self.limits)


@dataclass(frozen=True)
class ValidJob:
    """A job file that passed every check."""

    job: CreativeJob
    key: str
    source: Path
    raw: bytes
    sha256: str
    template: Template
    cap: int


def parse_json(raw: bytes, label: str) -> object:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JobSpecInvalid(
            [SpecError(label, JSON_FIELD, f"not UTF-8 text (byte {exc.start})")]
        ) from exc

    def reject_constant(name: str) -> float:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        reason = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise JobSpecInvalid([SpecError(label, JSON_FIELD, reason)]) from exc
    except ValueError as exc:
        raise JobSpecInvalid([SpecError(label, JSON_FIELD, str(exc))]) from exc


def validate_document(doc: object, label: str, intake: Intake) -> CreativeJob:
    """Schema, then semantics, then sweep size. Raises JobSpecInvalid listing every problem."""
    if not isinstance(doc, dict):
        got = json_type_name(doc)
        raise JobSpecInvalid([SpecError(label, DOCUMENT_FIELD, f"must be an object, got {got}")])
    try:
        job = CreativeJob.model_validate(doc)
    except ValidationError as exc:
        raise JobSpecInvalid(from_validation_error(label, exc)) from exc
    problems = semantic_problems(job, intake.check_context())
    if not problems:
        problems = _sweep_problems(job, intake)
    if problems:
        raise JobSpecInvalid([SpecError(label, f, r) for f, r in problems])
    return job


def _sweep_problems(job: CreativeJob, intake: Intake) -> list[tuple[str, str]]:
    cap = job_cap(job, intake.limits)
    prompts = len(job.generation.variants.prompt_variants or ())
    if prompts > cap:
        return [
            (
                "generation.variants.prompt_variants",
                f"{prompts} prompt variants cannot all be rendered under the cap of {cap}",
            )
        ]
    template = intake.templates()[job.generation.workflow.template_id]
    size = sweep_size(build_axes(job, RunMode.exploration, "size", template.defaults))
    ceiling = intake.limits.sweep_ceiling
    if size > ceiling:
        return [
            (
                "generation.variants",
                f"the sweep has {size:,} combinations, above the ceiling of {ceiling:,}; "
                "list fewer values",
            )
        ]
    return []


def validate_bytes(raw: bytes, source: Path, intake: Intake, label: str | None = None) -> ValidJob:
    label = label or str(source)
    job = validate_document(parse_json(raw, label), label, intake)
    return ValidJob(
        job=job,
        key=job_key(job.job_id),
        source=source,
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        template=intake.templates()[job.generation.workflow.template_id],
        cap=job_cap(job, intake.limits),
    )


def validate_file(path: Path, intake: Intake, label: str | None = None) -> ValidJob:
    label = label or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JobSpecInvalid([SpecError(label, DOCUMENT_FIELD, f"cannot read: {exc}")]) from exc
    return validate_bytes(raw, path, intake, label)
