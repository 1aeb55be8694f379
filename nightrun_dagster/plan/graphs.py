"""The graph each variant is POSTed as: its params.json applied to the job's template, with the
job's images named as the render loop uploads them."""

from __future__ import annotations

import json
from typing import Any

from nightrun_dagster.comfy.render_loop import GraphBuilder, planned_uploads, upload_subfolder
from nightrun_dagster.expand.variants import Expansion, Variant
from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.plan.inputs import graph_input_paths
from nightrun_dagster.plan.variants import params_document
from nightrun_dagster.store.atomic import dump_json
from nightrun_dagster.workflows.apply import DEGRADE_LADDER, build_graph


def graph_builder(found: ValidJob) -> GraphBuilder:
    """What the render loop calls for every submit: (params.json, degrade rung, uploaded
    names) -> the API-format graph."""
    template, job = found.template, found.job

    def build(params: dict[str, Any], rung: int, uploads: Any) -> dict[str, Any]:
        return build_graph(template, params, job=job, uploads=uploads, degrade=DEGRADE_LADDER[rung])

    return build


def planned_params(found: ValidJob, expansion: Expansion, variant: Variant) -> dict[str, Any]:
    """The variant's params.json as the render loop reads it back: the document the `variants`
    asset writes, through the same JSON bytes (lists, not tuples; floats as written)."""
    return json.loads(dump_json(params_document(found, expansion, variant)))


def planned_graph(
    found: ValidJob, expansion: Expansion, variant: Variant, rung: int = 0
) -> dict[str, Any]:
    """The graph the render loop would POST for `variant` (its first try unless `rung` says a
    step down the OOM ladder). Raises `ApplyError` or `UnknownSampler` when the params do not
    fit the template."""
    uploads = planned_uploads(graph_input_paths(found), upload_subfolder(found.key))
    return graph_builder(found)(planned_params(found, expansion, variant), rung, uploads)
