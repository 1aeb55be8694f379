"""UI-format workflows to API graphs, as ComfyUI's frontend (1.27.10) does it."""

import json
import random
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.workflows.ui_format import (
    WorkflowFormatError,
    ui_to_api,
    workflow_format,
)

UI_WORKFLOWS = Path(__file__).resolve().parent / "data" / "ui_workflows"
CKPT = "model.safetensors"
KSAMPLER_VALUES = [123, "fixed", 20, 8, "euler", "normal", 1]


def saved(name: str) -> Any:
    return json.loads((UI_WORKFLOWS / name).read_text())


class UI:
    """A small UI-format workflow; `link` fills in both ends the way ComfyUI saves them."""

    def __init__(self) -> None:
        self.nodes: dict[int, dict[str, Any]] = {}
        self.links: list[list[Any]] = []
        self.subgraphs: list[dict[str, Any]] = []

    def node(
        self, node_id: int, type_: str, *widgets: Any, mode: int = 0, title: str = "", **extra: Any
    ) -> "UI":
        node: dict[str, Any] = {"id": node_id, "type": type_, "mode": mode, "inputs": []}
        node["outputs"] = []
        if widgets:
            node["widgets_values"] = list(widgets)
        if title:
            node["title"] = title
        self.nodes[node_id] = {**node, **extra}
        return self

    def link(
        self, src: int, slot: int, dst: int, name: str, type_: str, widget: bool = False
    ) -> "UI":
        link_id = len(self.links) + 1
        outputs = self.nodes[src]["outputs"]
        while len(outputs) <= slot:
            outputs.append({"name": type_, "type": type_, "links": []})
        outputs[slot]["links"].append(link_id)
        slot_data: dict[str, Any] = {"name": name, "type": type_, "link": link_id}
        if widget:
            slot_data["widget"] = {"name": name}
        inputs = self.nodes[dst]["inputs"]
        inputs.append(slot_data)
        self.links.append([link_id, src, slot, dst, len(inputs) - 1, type_])
        return self

    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"nodes": list(self.nodes.values()), "links": self.links}
        doc |= {"groups": [], "config": {}, "extra": {}, "version": 0.4}
        if self.subgraphs:
            doc["definitions"] = {"subgraphs": self.subgraphs}
        return doc


def sampler_graph(*lora_modes: int, sampler_values: Any = None) -> UI:
    """Checkpoint 4 -> LoraLoader 11, 12, … (one per mode) -> KSampler 3, prompts 6/7."""
    ui = UI().node(4, "CheckpointLoaderSimple", CKPT)
    ui.node(3, "KSampler", *(sampler_values or KSAMPLER_VALUES))
    ui.node(6, "CLIPTextEncode", "a glass bottle").node(7, "CLIPTextEncode", "blurry")
    ui.node(5, "EmptyLatentImage", 512, 512, 1)
    source = 4
    for lora_id, mode in enumerate(lora_modes, start=11):
        ui.node(lora_id, "LoraLoader", "style.safetensors", 0.8, 1, mode=mode)
        ui.link(source, 0, lora_id, "model", "MODEL").link(source, 1, lora_id, "clip", "CLIP")
        source = lora_id
    ui.link(source, 0, 3, "model", "MODEL").link(6, 0, 3, "positive", "CONDITIONING")
    ui.link(7, 0, 3, "negative", "CONDITIONING").link(5, 0, 3, "latent_image", "LATENT")
    ui.link(source, 1, 6, "clip", "CLIP").link(source, 1, 7, "clip", "CLIP")
    return ui


# ----------------------------------------------------------------- what the frontend produced


@pytest.mark.parametrize("name", ["default", "lora", "image_to_video_wan"])
def test_saved_workflows_convert_to_what_the_frontend_produced(
    name: str, object_info_full: dict[str, Any]
) -> None:
    expected = saved(f"{name}.api.json")
    converted = ui_to_api(saved(f"{name}.json"), object_info_full)
    assert converted.graph == expected
    # Same key order too (nodes, and inputs: widget values first, then links).
    assert json.dumps(converted.graph) == json.dumps(expected)


def test_the_lora_workflow_says_what_it_dropped(object_info_full: dict[str, Any]) -> None:
    notes = ui_to_api(saved("lora.json"), object_info_full).notes
    assert "node 12 (MarkdownNote): a note — ignored" in notes
    assert any(n.startswith("node 13 (LoraLoader): bypassed") for n in notes)


def test_object_form_links_convert_like_list_links(object_info_full: dict[str, Any]) -> None:
    doc = saved("default.json")
    keys = ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")
    doc["links"] = [dict(zip(keys, link, strict=True)) for link in doc["links"]]
    doc["version"] = 1
    assert ui_to_api(doc, object_info_full).graph == saved("default.api.json")


# ----------------------------------------------------------------- virtual nodes


def test_links_are_followed_through_a_chain_of_reroutes(object_info_full: dict[str, Any]) -> None:
    ui = UI().node(4, "CheckpointLoaderSimple", CKPT).node(3, "KSampler", *KSAMPLER_VALUES)
    ui.node(20, "Reroute").node(21, "Reroute")
    ui.link(4, 0, 20, "", "*").link(20, 0, 21, "", "*").link(21, 0, 3, "model", "MODEL")
    converted = ui_to_api(ui.doc(), object_info_full)
    assert converted.graph["3"]["inputs"]["model"] == ["4", 0]
    assert "20" not in converted.graph and "21" not in converted.graph
    assert "node 20 (Reroute): a reroute — links followed through it" in converted.notes


def test_an_unconnected_reroute_leaves_its_consumers_input_out(
    object_info_full: dict[str, Any],
) -> None:
    ui = UI().node(8, "VAEDecode").node(9, "SaveImage", "out").node(20, "Reroute")
    ui.link(20, 0, 9, "images", "IMAGE")
    converted = ui_to_api(ui.doc(), object_info_full)
    assert converted.graph["9"]["inputs"] == {"filename_prefix": "out"}
    assert any("node 9 (SaveImage) input 'images': left out" in n for n in converted.notes)


def test_a_primitive_node_value_is_written_into_the_widgets_it_feeds(
    object_info_full: dict[str, Any],
) -> None:
    ui = UI().node(5, "EmptyLatentImage", 512, 512, 1).node(6, "EmptyLatentImage", 64, 64, 1)
    ui.node(20, "PrimitiveNode", 768, "fixed")
    ui.link(20, 0, 5, "width", "INT", widget=True).link(20, 0, 6, "height", "INT", widget=True)
    converted = ui_to_api(ui.doc(), object_info_full)
    assert converted.graph["5"]["inputs"] == {"width": 768, "height": 512, "batch_size": 1}
    assert converted.graph["6"]["inputs"] == {"width": 64, "height": 768, "batch_size": 1}
    assert "20" not in converted.graph
    assert any(n.startswith("node 20 (PrimitiveNode): a primitive") for n in converted.notes)


def test_notes_groups_and_virtual_nodes_need_no_object_info() -> None:
    doc = UI().node(1, "Note", "hello").node(2, "MarkdownNote", "# hi").node(3, "Reroute").doc()
    doc["groups"] = [{"title": "Step 1", "bounding": [0, 0, 10, 10]}]
    converted = ui_to_api(doc, {})
    assert converted.graph == {}
    assert "1 group(s) ignored: groups only frame nodes on the canvas" in converted.notes
    assert "node 2 (MarkdownNote): a note — ignored" in converted.notes


# ----------------------------------------------------------------- muted and bypassed nodes


def test_a_muted_node_is_dropped_and_inputs_from_it_left_out(
    object_info_full: dict[str, Any],
) -> None:
    converted = ui_to_api(sampler_graph(2).doc(), object_info_full)
    graph = converted.graph
    assert "11" not in graph
    assert "model" not in graph["3"]["inputs"]
    assert graph["6"]["inputs"] == {"text": "a glass bottle"}
    assert "node 11 (LoraLoader): muted — left out" in converted.notes
    assert (
        "node 3 (KSampler) input 'model': left out — it comes from node 11 (LoraLoader), "
        "which is muted" in converted.notes
    )


def test_a_bypassed_node_passes_its_input_of_the_same_type(
    object_info_full: dict[str, Any],
) -> None:
    graph = ui_to_api(sampler_graph(4).doc(), object_info_full).graph
    assert "11" not in graph
    assert graph["3"]["inputs"]["model"] == ["4", 0]
    assert graph["6"]["inputs"]["clip"] == ["4", 1]
    assert graph["7"]["inputs"]["clip"] == ["4", 1]


def test_a_chain_of_bypassed_nodes_is_followed(object_info_full: dict[str, Any]) -> None:
    graph = ui_to_api(sampler_graph(4, 4).doc(), object_info_full).graph
    assert "11" not in graph and "12" not in graph
    assert graph["3"]["inputs"]["model"] == ["4", 0]
    assert graph["6"]["inputs"]["clip"] == ["4", 1]


def test_bypass_prefers_the_input_at_the_outputs_own_slot(
    object_info_full: dict[str, Any],
) -> None:
    """WanImageToVideo's negative output (slot 1) passes its negative input (slot 1), not the
    first CONDITIONING input; its LATENT output has no LATENT input to pass."""
    ui = UI().node(6, "CLIPTextEncode", "a cat").node(7, "CLIPTextEncode", "blurry")
    ui.node(39, "VAELoader", "vae.safetensors").node(50, "WanImageToVideo", 512, 512, 33, 1, mode=4)
    ui.node(3, "KSampler", *KSAMPLER_VALUES)
    ui.link(6, 0, 50, "positive", "CONDITIONING").link(7, 0, 50, "negative", "CONDITIONING")
    ui.link(39, 0, 50, "vae", "VAE")
    ui.link(50, 0, 3, "positive", "CONDITIONING").link(50, 1, 3, "negative", "CONDITIONING")
    ui.link(50, 2, 3, "latent_image", "LATENT")
    converted = ui_to_api(ui.doc(), object_info_full)
    inputs = converted.graph["3"]["inputs"]
    assert inputs["positive"] == ["6", 0]
    assert inputs["negative"] == ["7", 0]
    assert "latent_image" not in inputs
    assert (
        "node 3 (KSampler) input 'latent_image': left out — bypassed node 50 (WanImageToVideo) "
        "has no input of type LATENT" in converted.notes
    )


def test_a_bypassed_node_without_an_input_of_that_type_leaves_the_input_out(
    object_info_full: dict[str, Any],
) -> None:
    ui = UI().node(3, "KSampler", *KSAMPLER_VALUES).node(4, "CheckpointLoaderSimple", CKPT)
    ui.node(8, "VAEDecode", mode=4).node(9, "SaveImage", "out")
    ui.link(3, 0, 8, "samples", "LATENT").link(4, 2, 8, "vae", "VAE")
    ui.link(8, 0, 9, "images", "IMAGE")
    graph = ui_to_api(ui.doc(), object_info_full).graph
    assert graph["9"]["inputs"] == {"filename_prefix": "out"}


# ----------------------------------------------------------------- widget values


def test_the_control_after_generate_value_is_not_an_input_and_may_be_missing(
    object_info_full: dict[str, Any],
) -> None:
    with_control = ui_to_api(sampler_graph().doc(), object_info_full)
    older = sampler_graph(sampler_values=[123, 20, 8, "euler", "normal", 1])
    without_control = ui_to_api(older.doc(), object_info_full)
    expected = {"seed": 123, "steps": 20, "cfg": 8, "sampler_name": "euler"}
    expected |= {"scheduler": "normal", "denoise": 1}
    for converted in (with_control, without_control):
        inputs = converted.graph["3"]["inputs"]
        assert {k: v for k, v in inputs.items() if not isinstance(v, list)} == expected
    assert not any("matched by type" in n for n in with_control.notes)
    assert (
        "node 3 (KSampler): the file has no value for control_after_generate (an older save); "
        "the widget values were matched by type" in without_control.notes
    )


def test_widget_values_that_fit_no_input_name_the_node_and_widget(
    object_info_full: dict[str, Any],
) -> None:
    ui = sampler_graph(sampler_values=[123, "fixed", "twenty", 8, "euler", "normal", 1])
    with pytest.raises(WorkflowFormatError, match=r"node 3 \(KSampler\): widget 'steps' got"):
        ui_to_api(ui.doc(), object_info_full)


def test_widget_values_keyed_by_name_are_mapped_by_name(object_info_full: dict[str, Any]) -> None:
    ui = UI().node(5, "EmptyLatentImage", widgets_values={"height": 384, "width": 640})
    graph = ui_to_api(ui.doc(), object_info_full).graph
    assert graph["5"]["inputs"] == {"width": 640, "height": 384, "batch_size": 1}


def test_array_values_are_wrapped_so_they_are_not_read_as_links() -> None:
    object_info = {
        "TagPicker": {
            "input": {
                "required": {"tags": ["COMBO", {"options": ["a", "b"], "multi_select": True}]}
            },
            "output": [],
            "name": "TagPicker",
            "display_name": "Tag Picker",
        }
    }
    graph = ui_to_api(UI().node(1, "TagPicker", ["a", "b"]).doc(), object_info).graph
    assert graph["1"] == {
        "inputs": {"tags": {"__value__": ["a", "b"]}},
        "class_type": "TagPicker",
        "_meta": {"title": "Tag Picker"},
    }


def test_dynamic_prompts_are_resolved_like_the_frontend_does_when_queueing(
    object_info_full: dict[str, Any],
) -> None:
    doc = UI().node(6, "CLIPTextEncode", "a {red|blue} bottle // draft\nglass").doc()
    texts = {
        ui_to_api(doc, object_info_full, rng=random.Random(seed)).graph["6"]["inputs"]["text"]
        for seed in range(20)
    }
    assert texts == {"a red bottle \nglass", "a blue bottle \nglass"}


def test_titles_are_the_saved_title_or_the_frontends_display_name(
    object_info_full: dict[str, Any],
) -> None:
    ui = UI().node(1, "ImageBlur", 1, 1.0).node(2, "ImageInvert", title="Negative")
    graph = ui_to_api(ui.doc(), object_info_full).graph
    assert graph["1"]["_meta"] == {"title": "Image Blur"}  # the server sends no display_name
    assert graph["2"]["_meta"] == {"title": "Negative"}


def test_preview_any_carries_its_preview_text_box(object_info_full: dict[str, Any]) -> None:
    ui = UI().node(1, "PrimitiveString", "hi").node(2, "PreviewAny")
    ui.link(1, 0, 2, "source", "*")
    assert ui_to_api(ui.doc(), object_info_full).graph["2"]["inputs"] == {
        "preview": "",
        "source": ["1", 0],
    }


# ----------------------------------------------------------------- subgraphs


def encode_subgraph() -> dict[str, Any]:
    """Subgraph 'Encode': inputs clip, text (a widget, so it is promoted) -> CLIPTextEncode 1."""
    links = [(1, -10, 0, 1, 0, "CLIP"), (2, -10, 1, 1, 1, "STRING")]
    links.append((3, 1, 0, -20, 0, "CONDITIONING"))
    keys = ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")
    clip_in = {"name": "clip", "type": "CLIP", "link": 1}
    text_in = {"name": "text", "type": "STRING", "link": 2, "widget": {"name": "text"}}
    return {
        "id": "sub-encode",
        "name": "Encode",
        "inputs": [
            {"id": "a", "name": "clip", "type": "CLIP", "linkIds": [1]},
            {"id": "b", "name": "text", "type": "STRING", "linkIds": [2]},
        ],
        "outputs": [{"id": "c", "name": "CONDITIONING", "type": "CONDITIONING", "linkIds": [3]}],
        "nodes": [
            {
                "id": 1,
                "type": "CLIPTextEncode",
                "mode": 0,
                "inputs": [clip_in, text_in],
                "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [3]}],
                "widgets_values": ["inner default"],
            }
        ],
        "links": [dict(zip(keys, link, strict=True)) for link in links],
    }


def outer_subgraph() -> dict[str, Any]:
    """Subgraph 'Outer': its inputs feed an 'Encode' instance (node 7) inside it."""
    outer = encode_subgraph()
    outer["id"], outer["name"] = "sub-outer", "Outer"
    inner = outer["nodes"][0]
    inner["id"], inner["type"], inner["widgets_values"] = 7, "sub-encode", ["outer default"]
    for link in outer["links"]:
        link["target_id"] = 7 if link["target_id"] == 1 else link["target_id"]
        link["origin_id"] = 7 if link["origin_id"] == 1 else link["origin_id"]
    return outer


def with_instance(ui: UI, node_id: int, subgraph_id: str, text: str) -> UI:
    ui.node(node_id, subgraph_id, text).link(4, 1, node_id, "clip", "CLIP")
    ui.nodes[node_id]["inputs"].append(
        {"name": "text", "type": "STRING", "link": None, "widget": {"name": "text"}}
    )
    return ui


def test_subgraphs_are_flattened_with_outer_inner_ids(object_info_full: dict[str, Any]) -> None:
    ui = UI().node(4, "CheckpointLoaderSimple", CKPT)
    ui.subgraphs.append(encode_subgraph())
    with_instance(ui, 5, "sub-encode", "a red bottle").node(6, "ConditioningZeroOut")
    with_instance(ui, 8, "sub-encode", "a blue bottle").node(9, "ConditioningZeroOut")
    ui.link(5, 0, 6, "conditioning", "CONDITIONING").link(8, 0, 9, "conditioning", "CONDITIONING")
    converted = ui_to_api(ui.doc(), object_info_full)
    graph = converted.graph
    assert list(graph) == ["4", "6", "9", "5:1", "8:1"]
    assert graph["5:1"] == {
        "inputs": {"text": "a red bottle", "clip": ["4", 1]},
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    }
    assert graph["8:1"]["inputs"]["text"] == "a blue bottle"
    assert graph["6"]["inputs"] == {"conditioning": ["5:1", 0]}
    assert graph["9"]["inputs"] == {"conditioning": ["8:1", 0]}
    assert "node 5 (subgraph 'Encode'): flattened into 5:1" in converted.notes


def test_nested_subgraphs_get_outer_middle_inner_ids(object_info_full: dict[str, Any]) -> None:
    ui = UI().node(4, "CheckpointLoaderSimple", CKPT)
    ui.subgraphs += [outer_subgraph(), encode_subgraph()]
    with_instance(ui, 5, "sub-outer", "nested text").node(6, "ConditioningZeroOut")
    ui.link(5, 0, 6, "conditioning", "CONDITIONING")
    graph = ui_to_api(ui.doc(), object_info_full).graph
    assert list(graph) == ["4", "6", "5:7:1"]
    assert graph["5:7:1"]["inputs"] == {"text": "nested text", "clip": ["4", 1]}
    assert graph["6"]["inputs"] == {"conditioning": ["5:7:1", 0]}


def test_a_linked_subgraph_input_brings_the_link_inside(object_info_full: dict[str, Any]) -> None:
    ui = UI().node(4, "CheckpointLoaderSimple", CKPT).node(3, "PrimitiveStringMultiline", "wired")
    ui.subgraphs.append(encode_subgraph())
    ui.node(5, "sub-encode", "unused").link(4, 1, 5, "clip", "CLIP")
    ui.link(3, 0, 5, "text", "STRING", widget=True)
    graph = ui_to_api(ui.doc(), object_info_full).graph
    assert graph["5:1"]["inputs"] == {"text": ["3", 0], "clip": ["4", 1]}


# ----------------------------------------------------------------- errors and formats


def test_a_class_the_server_lacks_is_named(object_info_full: dict[str, Any]) -> None:
    ui = sampler_graph().node(12, "FooBar").node(13, "SaveImage", "x")
    ui.link(12, 0, 13, "images", "IMAGE")  # it feeds a save: the graph needs it
    with pytest.raises(WorkflowFormatError) as caught:
        ui_to_api(ui.doc(), object_info_full)
    assert str(caught.value) == (
        "node 12 (FooBar): class not on the server — custom node not installed? install it or "
        "export the API format"
    )


def test_without_object_info_entries_the_first_real_node_is_named() -> None:
    with pytest.raises(WorkflowFormatError, match=r"^node 7 \(CLIPTextEncode\): class not on"):
        ui_to_api(saved("default.json"), {})


def test_workflow_format_tells_api_from_ui(object_info_full: dict[str, Any]) -> None:
    api = saved("default.api.json")
    assert workflow_format(saved("default.json")) == "ui"
    assert workflow_format(api) == "api"
    assert workflow_format({**api, "_workflow_metadata": {"kind": "image"}}) == "api"
    with pytest.raises(WorkflowFormatError, match="already an API-format graph"):
        ui_to_api(api, object_info_full)


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ([1, 2], "got list"),
        ("workflow", "got str"),
        ({}, "has no nodes"),
        ({"nodes": []}, "no 'links' list"),
        ({"3": {"inputs": {}}}, "node '3' has no class_type"),
        ({"prompt": {"3": {"class_type": "KSampler", "inputs": {}}}}, "POST /prompt body"),
    ],
)
def test_workflow_format_rejects_anything_else(doc: object, why: str) -> None:
    with pytest.raises(WorkflowFormatError, match="expected a ComfyUI workflow") as caught:
        workflow_format(doc)
    assert why in str(caught.value)


def test_frontend_only_nodes_of_popular_extensions(object_info_full: dict[str, Any]) -> None:
    """rgthree's reroute and labels and KJNodes' SetNode/GetNode never reach the server: the
    wires they stand for are followed, display-only nodes are dropped with a note."""
    ui = sampler_graph().node(8, "VAEDecode").node(9, "SaveImage", "ComfyUI")
    ui.node(20, "Reroute (rgthree)").node(21, "SetNode", "VAE").node(22, "GetNode", "VAE")
    ui.node(23, "Label (rgthree)", "Product shots").node(24, "Fast Groups Bypasser (rgthree)")
    ui.link(3, 0, 20, "", "LATENT").link(20, 0, 8, "samples", "LATENT")
    ui.link(4, 2, 21, "VAE", "VAE").link(22, 0, 8, "vae", "VAE")
    ui.link(8, 0, 9, "images", "IMAGE")
    converted = ui_to_api(ui.doc(), object_info_full)
    assert converted.graph["8"]["inputs"] == {"samples": ["3", 0], "vae": ["4", 2]}
    assert not {"20", "21", "22", "23", "24"} & set(converted.graph)
    assert any("23 (Label (rgthree))" in n and "feeds nothing" in n for n in converted.notes)
    orphan = ui.doc()
    orphan["nodes"] = [n for n in orphan["nodes"] if n["id"] != 21]  # a Get without its Set
    graph = ui_to_api(orphan, object_info_full)
    assert "vae" not in graph.graph["8"]["inputs"]
    assert any("reads a SetNode that is not in the graph" in n for n in graph.notes)
