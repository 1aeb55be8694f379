"""The graph each variant is POSTed as: its params.json applied to the job's template, with the
job's images named as the render loop uploads them (built in `intake.planned`, which validation
shares)."""

from __future__ import annotations

import functools

from nightrun_dagster.comfy.render_loop import GraphBuilder
from nightrun_dagster.intake.planned import planned_graph as planned_graph
from nightrun_dagster.intake.planned import planned_params as planned_params
from nightrun_dagster.intake.planned import variant_graph
from nightrun_dagster.intake.validate import ValidJob


def graph_builder(found: ValidJob) -> GraphBuilder:
    """What the render loop calls for every submit: (params.json, degrade rung, uploaded
    names) -> the API-format graph."""
    return functools.partial(variant_graph, found)
