"""One entry point for every check a job file must pass, used by the sensor, runs and the CLI."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from nightrun_dagster.creative_job.checks import CheckContext, TemplateFacts, semantic_problems
from nightrun_dagster.creative_job.errors import (
    DOCUMENT_FIELD,
    JSON_FIELD,
    JobSpecInvalid,
    SpecError,
    from_validation_error,
)
from nightrun_dagster.creative_job.json_types import json_type_name
from nightrun_dagster.creative_job.limits import SpecLimits, job_cap
from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.creative_job.slug import job_key
from nightrun_dagster.expand.axes import build_axes, sweep_size
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.intake.planned import (
    CHECK_NIGHT,
    GRAPH_ERRORS,
    first_variant_graph,
    graph_problem,
)
from nightrun_dagster.intake.valid_job import ValidJob
from nightrun_dagster.workflows.apply import IMAGE_INPUT_ROLES
from nightrun_dagster.workflows.fit import fit_problems
from nightrun_dagster.workflows.templates import (
    Template,
    TemplateRegistry,
    default_workflows_dir,
    template_registry,
)


@dataclass(frozen=True)
class Intake:
    """Where job files' relative paths point, and the limits they must respect."""

    assets_root: Path
    # Read when an Intake is made, not at import: $NIGHTRUN_WORKFLOWS_DIR may be set later.
    workflows_dir: Path = field(default_factory=default_workflows_dir)
    limits: SpecLimits = field(default_factory=SpecLimits)

    def registry(self) -> TemplateRegistry:
        """The workflows folder: good templates and broken files (cached until it changes)."""
        return template_registry(self.workflows_dir)

    def templates(self) -> Mapping[str, Template]:
        """The good templates by id."""
        return self.registry().templates

    def check_context(self, registry: TemplateRegistry | None = None) -> CheckContext:
        registry = registry or self.registry()
        facts = {tid: template_facts(t) for tid, t in registry.templates.items()}
        broken = {tid: b.line() for tid, b in registry.broken_by_id().items()}
        return CheckContext(self.assets_root, self.workflows_dir, facts, self.limits, broken)


def template_facts(template: Template) -> TemplateFacts:
    """What validation needs of a template: its file, and the nodes loading job images."""
    loads = {}
    for role, asset_list in IMAGE_INPUT_ROLES.items():
        node = template.role_nodes.get(role)
        if node is not None:
            loads[asset_list] = f"node {node[0]}, {node[1]}"
    return TemplateFacts(template.path.name, loads)


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
    """Schema, then semantics, then sweep size, then the first variant's graph. Raises
    JobSpecInvalid listing every problem."""
    job, template = _validate(doc, label, intake)
    # No file bytes here: the graph does not depend on them (only params.json records a hash).
    _check_first_graph(_valid_job(job, template, Path(label), b"", intake), label)
    return job


def _validate(doc: object, label: str, intake: Intake) -> tuple[CreativeJob, Template]:
    # One read of the workflows folder for every check, so a file changing meanwhile cannot
    # make the checks and the returned template disagree.
    registry = intake.registry()
    if not isinstance(doc, dict):
        got = json_type_name(doc)
        raise JobSpecInvalid([SpecError(label, DOCUMENT_FIELD, f"must be an object, got {got}")])
    if _is_json_schema(doc):
        # The schema file often travels with the examples; one clear line beats eight
        # "required field is missing".
        reason = "is a JSON Schema, not a creative job: put only job files here"
        raise JobSpecInvalid([SpecError(label, DOCUMENT_FIELD, reason)])
    try:
        job = CreativeJob.model_validate(doc)
    except ValidationError as exc:
        raise JobSpecInvalid(from_validation_error(label, exc)) from exc
    problems = semantic_problems(job, intake.check_context(registry))
    template = registry.templates.get(job.generation.workflow.template_id)
    if not problems and template is not None:
        problems = fit_problems(job, template) or _sweep_problems(job, intake, template)
    if problems:
        raise JobSpecInvalid([SpecError(label, f, r) for f, r in problems])
    assert template is not None  # an unknown or broken template is one of the problems
    return job, template


def _is_json_schema(doc: dict[str, object]) -> bool:
    meta = doc.get("$schema")
    return (
        "job_id" not in doc
        and isinstance(meta, str)
        and "json-schema.org" in meta
        and isinstance(doc.get("properties"), dict)
    )


def _sweep_problems(job: CreativeJob, intake: Intake, template: Template) -> list[tuple[str, str]]:
    cap = job_cap(job, intake.limits)
    prompts = len(job.generation.variants.prompt_variants or ())
    if prompts > cap:
        return [
            (
                "generation.variants.prompt_variants",
                f"{prompts} prompt variants cannot all be rendered under the cap of {cap}",
            )
        ]
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


def _check_first_graph(found: ValidJob, label: str) -> None:
    """Build the job's first variant's graph as the night will (params.json, uploads named as
    they will be): a job that cannot be built is refused here, with the field and the template,
    instead of failing the 22:45 warm-up for every job of the night."""
    try:
        first_variant_graph(found, CHECK_NIGHT)
    except GRAPH_ERRORS as exc:
        field_name, reason = graph_problem(exc, found.template)
        raise JobSpecInvalid([SpecError(label, field_name, reason)]) from exc


def _valid_job(
    job: CreativeJob, template: Template, source: Path, raw: bytes, intake: Intake
) -> ValidJob:
    return ValidJob(
        job=job,
        key=job_key(job.job_id),
        source=source,
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        template=template,
        cap=job_cap(job, intake.limits),
    )


def validate_bytes(raw: bytes, source: Path, intake: Intake, label: str | None = None) -> ValidJob:
    label = label or str(source)
    job, template = _validate(parse_json(raw, label), label, intake)
    found = _valid_job(job, template, source, raw, intake)
    _check_first_graph(found, label)
    return found


def validate_file(path: Path, intake: Intake, label: str | None = None) -> ValidJob:
    label = label or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JobSpecInvalid([SpecError(label, DOCUMENT_FIELD, f"cannot read: {exc}")]) from exc
    return validate_bytes(raw, path, intake, label)
