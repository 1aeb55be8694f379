"""What a night sends for a variant: its params.json document, the job images its graph loads,
and the graph built from them with those images named as the render loop uploads them.

Here rather than in `plan` because validation builds every job's first graph too: a job whose
graph cannot be built is refused when it is queued (file, field, reason), not found out by the
22:45 warm-up. `plan` imports `intake`, so this is the one place both can use."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import Expansion, Variant, expand_job
from nightrun_dagster.intake.valid_job import ValidJob
from nightrun_dagster.store.atomic import dump_json
from nightrun_dagster.workflows.apply import (
    DEGRADE_LADDER,
    ApplyError,
    InputsMapError,
    MissingInputError,
    build_graph,
)
from nightrun_dagster.workflows.samplers import UnknownSampler
from nightrun_dagster.workflows.templates import Template, display_path
from nightrun_dagster.workflows.uploads import planned_uploads, upload_subfolder

PARAMS_VERSION = 1

# The night validation builds a job's first graph for. The night only names the output prefix
# and draws `random` seeds, neither of which decides whether the graph can be built.
CHECK_NIGHT = "2026-01-01"

# What filling a template can raise for a job that passed every other check. ApplyError (and its
# InputsMapError, MissingInputError) and UnknownSampler are ValueErrors; a template's own odd
# values (a default of the wrong type, a node without inputs) surface as the others. A template
# is user input, so each of these is a reason to refuse the job, never a traceback.
GRAPH_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, LookupError, AttributeError)

INPUTS_MAP_FIELD = "generation.workflow.inputs_map"
TEMPLATE_FIELD = "generation.workflow.template_id"


def params_document(found: ValidJob, expansion: Expansion, variant: Variant) -> dict[str, Any]:
    """Everything needed to reproduce one render (the render stage adds what the server says)."""
    t = found.template
    d = t.defaults
    return {
        "params_version": PARAMS_VERSION,
        "job_id": found.job.job_id,
        "job_key": found.key,
        "night": expansion.night,
        "mode": expansion.mode.value,
        **variant.as_dict(),
        "template": {
            "id": t.template_id,
            "version": t.version,
            "sha256": t.sha256,
            "file": t.path.name,
            "model": t.metadata.get("model"),
        },
        "width": d.get("width"),
        "height": d.get("height"),
        "frames": d.get("frames"),
        "inputs_map": targets_as_strings(found.job.generation.workflow.inputs_map),
        "job_sha256": found.sha256,
    }


TARGET_KEYS = frozenset({"node", "input"})


def targets_as_strings(inputs_map: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`inputs_map` with each `{"node": N, "input": I}` target written `"N.I"`, the form the
    template filler reads. Jobs write targets both ways (the schema leaves the value open);
    anything else is kept as written, for the filler to refuse with the field named."""
    if inputs_map is None:
        return None

    def one(target: Any) -> Any:
        if isinstance(target, Mapping) and set(target) == TARGET_KEYS:
            node, name = target["node"], target["input"]
            if isinstance(node, str | int) and not isinstance(node, bool) and isinstance(name, str):
                return f"{node}.{name}"
        return target

    return {
        field_name: [one(t) for t in targets] if isinstance(targets, list) else one(targets)
        for field_name, targets in inputs_map.items()
    }


def planned_params(found: ValidJob, expansion: Expansion, variant: Variant) -> dict[str, Any]:
    """The variant's params.json as the render loop reads it back: the document the `variants`
    asset writes, through the same JSON bytes (lists, not tuples; floats as written)."""
    return json.loads(dump_json(params_document(found, expansion, variant)))


def graph_input_paths(found: ValidJob) -> list[str]:
    """Job assets the template loads on the server (LoadImage), as job paths."""
    roles = found.template.metadata.get("nodes") or {}
    a = found.job.assets
    wanted = []
    if roles.get("product_image") and a.product_images:
        wanted.append(a.product_images[0])
    if roles.get("base_image") and a.base_ui_screens:
        wanted.append(a.base_ui_screens[0])
    return wanted


def variant_graph(
    found: ValidJob, params: dict[str, Any], rung: int, uploads: Mapping[str, str]
) -> dict[str, Any]:
    """The graph for one params.json document at one rung of the OOM ladder, with `uploads`
    (job path -> server name): what the render loop calls for every submit."""
    return build_graph(
        found.template, params, job=found.job, uploads=uploads, degrade=DEGRADE_LADDER[rung]
    )


def params_graph(found: ValidJob, params: dict[str, Any], rung: int = 0) -> dict[str, Any]:
    """The graph the render loop would POST for a params.json document (its first try unless
    `rung` says a step down the OOM ladder), with the job's images named as they will be
    uploaded. Raises one of `GRAPH_ERRORS` (`ApplyError`, `UnknownSampler` …) when the params
    do not fit the template."""
    uploads = planned_uploads(graph_input_paths(found), upload_subfolder(found.key))
    return variant_graph(found, params, rung, uploads)


def planned_graph(
    found: ValidJob, expansion: Expansion, variant: Variant, rung: int = 0
) -> dict[str, Any]:
    """`params_graph` of the params.json the `variants` asset writes for `variant`."""
    return params_graph(found, planned_params(found, expansion, variant), rung)


def first_variant_graph(found: ValidJob, night: str) -> dict[str, Any]:
    """The graph of the job's first variant: what the server must be able to run tonight.
    Inputs are named as they will be uploaded (they are not on the server yet)."""
    expansion = expand_job(found.job, RunMode.exploration, night, 1, found.template.defaults)
    return planned_graph(found, expansion, expansion.variants[0])


def graph_problem(exc: Exception, template: Template) -> tuple[str, str]:
    """(field, reason) for a graph that cannot be built: the job's field when the error names
    one (an `inputs_map` entry, a missing image), else the template, with its file."""
    tid = template.template_id
    if isinstance(exc, InputsMapError):
        return f'{INPUTS_MAP_FIELD}["{exc.field}"]', f"{exc.reason} (template {tid})"
    if isinstance(exc, MissingInputError):
        return exc.field, f"{exc.reason} (template {tid})"
    # Our own errors explain themselves; anything else is named by its type too.
    detail = str(exc) if isinstance(exc, ApplyError | UnknownSampler) else _described(exc)
    return (
        TEMPLATE_FIELD,
        f"template {tid} ({display_path(template.path)}) cannot build this job's graph: {detail}",
    )


def _described(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
