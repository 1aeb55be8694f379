"""`nightrun template add`'s work: a ComfyUI export (API or UI format) becomes a template —
the API graph plus `_workflow_metadata` with inferred roles, defaults, models and hashes."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nightrun_dagster.workflows.analysis import Parameter, sweepable_parameters
from nightrun_dagster.workflows.apply import graph_summary
from nightrun_dagster.workflows.compat import CompatProblem, check_graph
from nightrun_dagster.workflows.roles import (
    PREVIEW_CLASSES,
    TWO_PASS_RULE,
    Role,
    RoleError,
    RoleInference,
    infer_roles,
)
from nightrun_dagster.workflows.schemas import NodeSchemas
from nightrun_dagster.workflows.templates import METADATA_KEY, TEMPLATE_ID
from nightrun_dagster.workflows.ui_format import WorkflowFormatError, ui_to_api, workflow_format

FIRST_VERSION = "1.0.0"
UI_NEEDS_SCHEMAS = (
    "is a UI-format workflow (ComfyUI's Save/Export): converting it needs the server's node "
    "schemas. Pass --comfy-url http://HOST:8188 (or --object-info FILE, a saved copy of "
    "GET /object_info), or export it from ComfyUI with Workflow > Export (API)"
)


class TemplateImportError(ValueError):
    """The file cannot become a template; the message says why in the user's terms."""


@dataclass
class ImportReport:
    """What `template add` decided and wrote, for the summary and `--json`."""

    template_id: str
    path: Path
    source_format: str
    metadata: dict[str, Any]
    graph: dict[str, Any]
    parameters: list[Parameter]
    notes: list[str] = field(default_factory=list)
    problems: list[CompatProblem] = field(default_factory=list)
    checked: bool = False
    written: bool = True
    previous_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        meta = self.metadata
        return {
            "template_id": self.template_id,
            "path": str(self.path),
            "written": self.written,
            "source_format": self.source_format,
            "version": meta["version"],
            "previous_version": self.previous_version,
            "kind": meta["kind"],
            "models": meta["models"],
            "roles": meta["nodes"],
            "second_passes": meta["second_passes"],
            "two_pass_rule": TWO_PASS_RULE if meta["second_passes"] else None,
            "defaults": meta["defaults"],
            "input_requirements": meta["input_requirements"],
            "source_sha256": meta["source"]["sha256"],
            "notes": self.notes,
            "checked_against_server": self.checked,
            "problems": [
                {"node": p.node_id, "class_type": p.class_type, "kind": p.kind, "detail": p.detail}
                for p in self.problems
            ],
            "parameters": [p.as_dict() for p in self.parameters],
        }


def check_template_id(template_id: str) -> None:
    if template_id.endswith(".json"):
        raise TemplateImportError(
            f"--id {template_id!r}: the id is the file name without .json "
            f"(--id {template_id.removesuffix('.json')})"
        )
    if not TEMPLATE_ID.match(template_id):
        raise TemplateImportError(
            f"--id {template_id!r}: use letters, digits, '_', '-' or '.', starting with a letter "
            "or digit (at most 64); it becomes the file name <ID>.json"
        )


def parse_export(raw: bytes, label: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise TemplateImportError(f"{label}: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise TemplateImportError(
            f"{label}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from exc
    if not isinstance(doc, dict):
        raise TemplateImportError(f"{label}: a ComfyUI workflow is a JSON object")
    return doc


def api_graph(
    doc: dict[str, Any], label: str, object_info: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any], list[str]]:
    """(format, API graph, conversion notes) of an export in either format."""
    try:
        fmt = workflow_format(doc)
    except WorkflowFormatError as exc:
        raise TemplateImportError(f"{label}: {exc}") from exc
    if fmt == "api":
        graph = {k: v for k, v in doc.items() if k != METADATA_KEY}
        return fmt, graph, []
    if object_info is None:
        raise TemplateImportError(f"{label} {UI_NEEDS_SCHEMAS}")
    try:
        # Dynamic prompts ({a|b}) pick the same choice every time: one file, one template.
        converted = ui_to_api(doc, object_info, rng=random.Random(0))
    except WorkflowFormatError as exc:
        raise TemplateImportError(f"{label}: {exc}") from exc
    return fmt, converted.graph, list(converted.notes)


def _save_previews(graph: dict[str, Any], schemas: NodeSchemas, template_id: str) -> list[str]:
    """A graph that only previews keeps nothing on the server: its previews become saves."""
    outputs = [n for n, node in graph.items() if schemas.is_output_node(node.get("class_type"))]
    if not outputs or any(graph[n]["class_type"] not in PREVIEW_CLASSES for n in outputs):
        return []
    notes = []
    for node_id in outputs:
        node = graph[node_id]
        if node["class_type"] == "PreviewImage":
            node["class_type"] = "SaveImage"
            node["inputs"] = {"filename_prefix": f"nightrun/{template_id}", **node["inputs"]}
            notes.append(f"node {node_id} was a PreviewImage; it saves (SaveImage) so renders last")
    return notes


def _primary_model(graph: Mapping[str, Any], roles: RoleInference) -> str | None:
    loader = roles.nodes.get(Role.checkpoint) or roles.nodes.get(Role.unet)
    if loader is None:
        return None
    inputs = graph[loader]["inputs"]
    value = inputs.get("ckpt_name") or inputs.get("unet_name")
    return value if isinstance(value, str) else None


def _requirements(roles: RoleInference) -> list[str]:
    needs = []
    if roles.nodes.get(Role.product_image):
        needs.append("assets.product_images[0]")
    if roles.nodes.get(Role.base_image):
        needs.append("assets.base_ui_screens[0]")
    return needs


def bumped(version: str) -> str:
    """`1.2.0` -> `1.3.0`; a version we cannot read starts a new line at 2.0.0."""
    parts = version.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{parts[0]}.{int(parts[1]) + 1}.0"
    return "2.0.0"


def build_template(
    raw: bytes,
    *,
    label: str,
    template_id: str,
    schemas: NodeSchemas,
    ui_object_info: Mapping[str, Any] | None,
    name: str | None = None,
    previous: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], ImportReport]:
    """The template document (graph + metadata) for an export, and what was decided.
    `previous` is the template file this one replaces (its version is kept or bumped)."""
    check_template_id(template_id)
    doc = parse_export(raw, label)
    fmt, graph, notes = api_graph(doc, label, ui_object_info)
    notes += _save_previews(graph, schemas, template_id)
    try:
        roles = infer_roles(graph, schemas)
    except RoleError as exc:
        unknown = sorted({str(n.get("class_type")) for n in graph.values()} - set(schemas.info))
        hint = (
            f" (the server's schemas lack {', '.join(unknown)}: custom nodes not installed, or "
            "not checked against the server they run on?)"
            if unknown
            else ""
        )
        raise TemplateImportError(
            f"{label} cannot be a template: " + "; ".join(exc.missing) + hint
        ) from exc
    previous_graph = None
    previous_meta: Mapping[str, Any] = {}
    if previous is not None:
        previous_meta = previous.get(METADATA_KEY) or {}
        previous_graph = {k: v for k, v in previous.items() if k != METADATA_KEY}
    version = FIRST_VERSION
    if previous is not None:
        old = str(previous_meta.get("version") or FIRST_VERSION)
        version = old if previous_graph == graph else bumped(old)
    width, height = roles.defaults.get("width"), roles.defaults.get("height")
    metadata: dict[str, Any] = {
        "template_id": template_id,
        "workflow_name": name or previous_meta.get("workflow_name") or _title(label),
        "description": previous_meta.get("description")
        or f"Imported from {Path(label).name} ({fmt.upper()} format)",
        "version": version,
        "kind": roles.kind.value,
        "model": _primary_model(graph, roles),
        "models": graph_summary(graph)["models"],
        "output_resolution": f"{width}x{height}" if width and height else None,
        "input_requirements": _requirements(roles),
        "nodes": roles.nodes,
        "second_passes": roles.second_passes,
        "prompt_inputs": roles.prompt_inputs,
        "defaults": roles.defaults,
        "source": {
            "file": Path(label).name,
            "format": fmt,
            "sha256": hashlib.sha256(raw).hexdigest(),
        },
    }
    report = ImportReport(
        template_id=template_id,
        path=Path(),
        source_format=fmt,
        metadata=metadata,
        graph=graph,
        parameters=sweepable_parameters(graph, schemas, roles.nodes),
        notes=[*notes, *roles.notes],
        previous_version=str(previous_meta["version"]) if previous_meta.get("version") else None,
    )
    return {METADATA_KEY: metadata, **graph}, report


def check_against_server(
    report: ImportReport, object_info: Mapping[str, Any], models: Mapping[str, list[str]]
) -> None:
    """The server's verdict on the graph: node classes, enum values, inputs, models."""
    report.problems = check_graph(report.graph, object_info, models)
    report.checked = True


def _title(label: str) -> str:
    stem = Path(label).stem
    return re.sub(r"[_\-]+", " ", stem).strip().capitalize() or stem
