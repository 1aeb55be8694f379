"""The shipped workflow templates: metadata, wiring, and the registry."""

import json
import shutil
from pathlib import Path

import pytest

from nightrun_dagster.workflows.templates import (
    DEFAULT_WORKFLOWS_DIR,
    METADATA_KEY,
    TemplateError,
    TemplateKind,
    load_template,
    load_templates,
    scan_templates,
    template_registry,
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
    (tmp_path / "x.json").write_text(json.dumps({"1": {"class_type": "EmptyImage"}}))
    with pytest.raises(TemplateError, match=r"x\.json: _workflow_metadata is missing: a plain"):
        load_template(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({METADATA_KEY: {"template_id": "z"}, **NODE}))
    with pytest.raises(TemplateError, match="'z' differs from the file name"):
        load_template(tmp_path / "y.json")


NODE = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}}}


def write(folder: Path, name: str, content: object) -> Path:
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "not a JSON object but a list"),
        (NODE, "a plain ComfyUI export; import it with `nightrun template add FILE --id ID`"),
        ({"nodes": [], "links": [], METADATA_KEY: {}}, "entry 'nodes' is not an API-format node"),
        ({METADATA_KEY: {}}, "has no nodes besides its metadata"),
        ({METADATA_KEY: [], **NODE}, "_workflow_metadata must be an object"),
        ({METADATA_KEY: {"nodes": ["1"]}, **NODE}, "_workflow_metadata.nodes must be an object"),
        (
            {METADATA_KEY: {"nodes": {"sampler": "9"}}, **NODE},
            "nodes.sampler names node 9, which is not in the graph",
        ),
        (
            {METADATA_KEY: {"kind": "audio"}, **NODE},
            "kind 'audio' is unknown (known: image, video)",
        ),
        ({METADATA_KEY: {"defaults": 3}, **NODE}, "_workflow_metadata.defaults must be an object"),
        (
            {METADATA_KEY: {"defaults": {"steps": "twenty"}}, **NODE},
            "defaults.steps must be a whole number, got 'twenty'",
        ),
        ({METADATA_KEY: {"defaults": {"cfg": True}}, **NODE}, "defaults.cfg must be a number"),
        (
            {METADATA_KEY: {"prompt_inputs": {"positive": [["6", "text"]]}}, **NODE},
            "prompt_inputs.positive: node 6 has no text input 'text'",
        ),
        (
            {METADATA_KEY: {"second_passes": ["11"]}, **NODE},
            "second_passes names node 11, not in the graph",
        ),
    ],
    ids=[
        "not-json",
        "not-object",
        "plain-export",
        "ui-format",
        "no-nodes",
        "meta-not-object",
        "nodes-not-object",
        "role-names-missing-node",
        "unknown-kind",
        "defaults-not-object",
        "default-steps-not-a-number",
        "default-cfg-a-boolean",
        "prompt-input-names-missing-node",
        "second-pass-names-missing-node",
    ],
)
def test_each_kind_of_broken_file_has_its_reason(
    tmp_path: Path, content: object, reason: str
) -> None:
    path = write(tmp_path, "bad.json", content)
    with pytest.raises(TemplateError) as raised:
        load_template(path)
    assert reason in raised.value.reason
    assert str(path) in str(raised.value)


def test_the_registry_keeps_the_good_templates_and_lists_the_broken_files(tmp_path: Path) -> None:
    workflows = tmp_path / "workflows"
    shutil.copytree(DEFAULT_WORKFLOWS_DIR, workflows)
    write(workflows, "plain_export.json", NODE)
    write(workflows, "half.json", '{"1": {"class_type": ')
    write(workflows, "renamed.json", {METADATA_KEY: {"template_id": "carousel_v2"}, **NODE})
    write(workflows, ".editor-swap.json", "junk")  # hidden: never a template

    registry = scan_templates(workflows)

    assert set(registry.templates) == set(TEMPLATES)
    assert set(registry.broken) == {"plain_export", "half", "renamed"}
    plain = registry.broken["plain_export"]
    assert plain.path == workflows / "plain_export.json"
    assert "a plain ComfyUI export" in plain.reason
    assert plain.line().endswith(f"plain_export.json is broken: {plain.reason}")
    assert "not valid JSON" in registry.broken["half"].reason
    # A job naming the id the file declares is pointed at that file.
    assert registry.broken_by_id() == {**registry.broken, "carousel_v2": registry.broken["renamed"]}
    assert load_templates(workflows).keys() == TEMPLATES.keys()


def test_the_cached_registry_follows_the_folder(tmp_path: Path) -> None:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    shutil.copy(DEFAULT_WORKFLOWS_DIR / "smoke_v1.json", workflows / "smoke_v1.json")
    first = template_registry(workflows)
    assert template_registry(workflows) is first  # unchanged folder: no re-read
    write(workflows, "plain_export.json", NODE)
    second = template_registry(workflows)
    assert set(second.broken) == {"plain_export"} and set(second.templates) == {"smoke_v1"}
    (workflows / "plain_export.json").unlink()
    assert not template_registry(workflows).broken
    assert template_registry(tmp_path / "absent").templates == {}


def test_kind_is_an_enum() -> None:
    assert TEMPLATES["wan21_teaser_v1"].kind is TemplateKind.video
    assert TEMPLATES["static_ad_v1"].kind is TemplateKind.image
    assert TEMPLATES["ui_anchored_v1"].role_nodes["product_image"] == ("3", "LoadImage")


def test_a_file_name_that_is_no_template_id_is_broken(tmp_path: Path) -> None:
    path = write(tmp_path, "my template.json", {METADATA_KEY: {}, **NODE})
    with pytest.raises(TemplateError, match="a template id \\(its file name\\) uses letters"):
        load_template(path)
