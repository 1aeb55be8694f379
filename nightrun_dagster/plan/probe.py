"""Graphs that probe a server before a night: a job's first variant, the preload, the smoke test."""

from __future__ import annotations

import copy
from typing import Any

from nightrun_dagster.intake.planned import first_variant_graph, graph_problem
from nightrun_dagster.intake.validate import Intake, ValidJob
from nightrun_dagster.workflows.templates import METADATA_KEY

PRELOAD_PREFIX = "nightrun/warmup/preload"


def smoke_graph(intake: Intake, prefix: str = "nightrun/doctor/smoke") -> dict[str, Any]:
    """`smoke_v1`: a tiny graph with no model, to prove the server renders end to end."""
    template = intake.templates()["smoke_v1"]
    graph = template.graph()
    out = template.metadata["nodes"]["output"]
    graph[out]["inputs"]["filename_prefix"] = prefix
    graph.pop(METADATA_KEY, None)
    return graph


def first_graphs(
    jobs: list[ValidJob], night: str
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(job key -> first variant's graph, job key -> why it is blocked). A job whose graph
    cannot be built is blocked, recorded as a job missing a model is (no names missing, the
    field and reason instead), so it gets no budget and every other job still renders."""
    graphs: dict[str, dict[str, Any]] = {}
    blocked: dict[str, dict[str, Any]] = {}
    for found in jobs:
        try:
            graphs[found.key] = first_variant_graph(found, night)
        # Validation builds this graph too, so only a template changed or a fault unforeseen
        # gets here; whatever it is, it is this job's problem, never the whole night's.
        except Exception as exc:
            field_name, reason = graph_problem(exc, found.template)
            blocked[found.key] = {
                "missing_models": [],
                "missing_nodes": [],
                "reason": f"{field_name}: {reason}",
            }
    return graphs, blocked


def preload_graph(graph: dict[str, Any]) -> dict[str, Any]:
    """`graph` cut to one sampling step, saved under the warm-up prefix: running it loads the
    night's checkpoint, LoRAs and ControlNets into VRAM at almost no cost."""
    out = copy.deepcopy(graph)
    for node in out.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        if isinstance(inputs.get("steps"), int):
            inputs["steps"] = 1
        if "filename_prefix" in inputs:
            inputs["filename_prefix"] = PRELOAD_PREFIX
    return out


UPLOAD_LOADERS = frozenset({"LoadImage", "LoadImageMask", "LoadVideo"})


def needs_uploads(graph: dict[str, Any]) -> bool:
    """True when the graph reads files the render loop uploads first (product shots, screens):
    the server rejects it until then, so it cannot be the warm-up's preload."""
    return any(
        isinstance(node, dict) and node.get("class_type") in UPLOAD_LOADERS
        for node in graph.values()
    )
