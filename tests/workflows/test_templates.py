"""The shipped workflow templates: metadata, wiring, and the registry."""

import json
from pathlib import Path

import pytest

from nightrun_dagster.workflows.templates import (
    DEFAULT_WORKFLOWS_DIR,
    METADATA_KEY,
    TemplateError,
    load_template,
    load_templates,
)

TEMPLATES = load_templates(DEFAULT_WORKFLOWS_DIR)


def test_the_four_templates_ship() -> None:
    assert set(TEMPLATES) == {"static_ad_v1", "ui_anchored_v1", "wan21_teaser_v1", "smoke_v1"}
    assert TEMPLATES["wan21_teaser_v1"].kind == "video"
    assert TEMPLATES["static_ad_v1"].defaults["steps"] == 28


@pytest.mark.parametrize("tid", sorted(TEMPLATES))
def test_graph_links_resolve(tid: str) -> None:
    t = TEMPLATES[tid]
    graph = t.graph()
    assert METADATA_KEY not in graph
    for node_id, node in graph.items():
        assert node["class_type"], node_id
        for value in node["inputs"].values():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                assert value[0] in graph, f"{tid} node {node_id} links to missing {value[0]}"
    for role, node_id in t.metadata["nodes"].items():
        assert node_id is None or node_id in graph, f"{tid}: role {role} -> {node_id}"
    for key in (
        "workflow_name",
        "description",
        "version",
        "model",
        "output_resolution",
        "use_case",
        "estimated_time",
    ):
        assert key in t.metadata


def test_bad_templates_are_named(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(TemplateError, match=r"x\.json: _workflow_metadata: missing"):
        load_template(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({METADATA_KEY: {"template_id": "z"}}))
    with pytest.raises(TemplateError, match="differs from the file name"):
        load_template(tmp_path / "y.json")
