"""Checking graphs against captured /object_info and /models payloads of a real ComfyUI."""

import copy
from collections.abc import Callable
from typing import Any

import pytest

from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.workflows.apply import build_graph
from nightrun_dagster.workflows.compat import (
    CompatProblem,
    check_graph,
    combo_choices,
    missing_models,
    model_refs,
)
from nightrun_dagster.workflows.templates import DEFAULT_WORKFLOWS_DIR, load_templates

TEMPLATES = load_templates(DEFAULT_WORKFLOWS_DIR)
Capture = Callable[[str], Any]
Info = dict[str, Any]

# Real-shaped entries for classes the capture did not ask about one by one.
EMPTY_LATENT = {
    "input": {
        "required": {
            "width": ["INT", {"default": 512, "min": 16, "max": 16384, "step": 8}],
            "height": ["INT", {"default": 512, "min": 16, "max": 16384, "step": 8}],
            "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
        }
    },
    "output": ["LATENT"],
    "output_node": False,
}
LORA_LOADER = {
    "input": {
        "required": {
            "model": ["MODEL", {}],
            "clip": ["CLIP", {}],
            "lora_name": [[], {}],
            "strength_model": ["FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0}],
            "strength_clip": ["FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0}],
        }
    },
    "output": ["MODEL", "CLIP"],
    "output_node": False,
}


def request_graph(capture: Capture, name: str) -> dict[str, Any]:
    return capture(name)["request"]["json"]["prompt"]


def server_node_errors(capture: Capture, name: str) -> set[str]:
    return set(capture(name)["response"]["node_errors"])


def kinds(problems: list[CompatProblem]) -> list[tuple[str, str]]:
    return [(p.node_id, p.kind) for p in problems]


def test_captured_payload_shapes(capture: Capture, object_info: Info) -> None:
    assert capture("object_info_unknown_node.json")["response"] == {}
    assert capture("models_checkpoints.json")["response"] == []
    assert "checkpoints" in capture("models.json")["response"]
    assert (
        combo_choices(object_info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]) == []
    )
    assert combo_choices(object_info["ImageScale"]["input"]["required"]["crop"]) == [
        "disabled",
        "center",
    ]
    assert combo_choices(["COMBO", {"options": ["a", "b"]}]) == ["a", "b"]
    assert combo_choices(["COMBO", {}]) == []
    assert combo_choices(["INT", {"min": 0}]) is None


def test_the_server_accepted_graph_passes(capture: Capture, object_info: Info) -> None:
    graph = request_graph(capture, "post_prompt_ok.json")
    assert capture("post_prompt_ok.json")["status"] == 200
    assert check_graph(graph, object_info, {}) == []


def test_a_built_smoke_graph_passes(
    jobs: dict[str, ValidJob],
    params: dict[str, list[dict[str, Any]]],
    object_info: Info,
    capture: Capture,
) -> None:
    found = jobs["smoke_v1"]
    for doc in params["smoke_v1"]:
        graph = build_graph(TEMPLATES["smoke_v1"], doc, job=found.job)
        assert {n["class_type"] for n in graph.values()} <= set(object_info)
        # GET /models/checkpoints on the captured server: no model files, none needed.
        models = {"checkpoints": capture("models_checkpoints.json")["response"]}
        assert check_graph(graph, object_info, models) == []


def test_missing_model_is_named_like_the_server_does(
    capture: Capture, object_info: Info, object_info_index: Info
) -> None:
    for name in (
        "post_prompt_missing_model_400.json",
        "post_prompt_missing_model_minimal_400.json",
    ):
        graph = request_graph(capture, name)
        # Classes the capture has no input spec for still exist on the server (the summary).
        info = {**object_info_index, **object_info}
        problems = check_graph(graph, info, {"checkpoints": []})
        assert problems == [
            CompatProblem(
                "1",
                "CheckpointLoaderSimple",
                "missing_model",
                "checkpoints/missing.safetensors is not on the server",
                folder="checkpoints",
                name="missing.safetensors",
            )
        ]
        assert {p.node_id for p in problems} == server_node_errors(capture, name)
        assert missing_models(problems) == ["checkpoints/missing.safetensors"]


def test_unknown_class_is_named(capture: Capture, object_info: Info) -> None:
    graph = request_graph(capture, "post_prompt_unknown_class_400.json")
    problems = check_graph(graph, object_info, {})
    assert kinds(problems) == [("1", "missing_node")]
    assert "'NoSuchNodeType' is not on the server" in problems[0].detail
    assert (
        "NoSuchNodeType"
        in capture("post_prompt_unknown_class_400.json")["response"]["error"]["message"]
    )


def test_link_to_a_missing_node(capture: Capture, object_info: Info) -> None:
    graph = request_graph(capture, "post_prompt_bad_link_400.json")
    problems = check_graph(graph, object_info, {})
    assert kinds(problems) == [("2", "bad_link")]
    assert "links to node '99', which is not in the graph" in problems[0].detail
    assert {p.node_id for p in problems} == server_node_errors(
        capture, "post_prompt_bad_link_400.json"
    )


def test_bad_values_and_missing_inputs_match_the_server(
    capture: Capture, object_info: Info
) -> None:
    name = "post_prompt_bad_values_400.json"
    problems = check_graph(request_graph(capture, name), object_info, {})
    assert {p.node_id for p in problems} == server_node_errors(capture, name)
    details = {(p.node_id, p.kind, p.detail) for p in problems}
    assert ("1", "missing_input", "required input 'batch_size' is missing") in details
    assert ("1", "bad_value", "width: 0 is below the minimum 1") in details
    assert ("1", "bad_value", "height: 'abc' is not an integer") in details
    assert any(n == "2" and "upscale_method: 'nope' is not one of" in d for n, _, d in details)


def test_type_mismatch_matches_the_server(capture: Capture, object_info: Info) -> None:
    name = "post_prompt_type_mismatch_400.json"
    info = {**object_info, "EmptyLatentImage": EMPTY_LATENT}
    problems = check_graph(request_graph(capture, name), info, {})
    assert kinds(problems) == [("2", "bad_link")]
    assert problems[0].detail == (
        "input 'images' expects IMAGE but node 1 output 0 (EmptyLatentImage) is LATENT"
    )
    assert {p.node_id for p in problems} == server_node_errors(capture, name)


def test_output_index_out_of_range(capture: Capture, object_info: Info) -> None:
    graph = request_graph(capture, "post_prompt_ok.json")
    graph["2"]["inputs"]["image"] = ["1", 3]
    problems = check_graph(graph, object_info, {})
    assert kinds(problems) == [("2", "bad_link")]
    assert "which has 1 output(s)" in problems[0].detail


def test_static_graph_with_a_lora_against_the_captured_server(
    jobs: dict[str, ValidJob],
    params: dict[str, list[dict[str, Any]]],
    object_info: Info,
    object_info_index: Info,
) -> None:
    doc = next(p for p in params["static_ad_v1"] if any(a["enabled"] for a in p["loras"]))
    graph = build_graph(TEMPLATES["static_ad_v1"], doc, job=jobs["static_ad_v1"].job)
    info = {**object_info_index, **object_info, "LoraLoader": LORA_LOADER}
    problems = check_graph(graph, info, {"checkpoints": [], "loras": []})
    assert [(p.node_id, p.kind, p.detail) for p in problems] == [
        ("1", "missing_model", "checkpoints/sd_xl_base_1.0.safetensors is not on the server"),
        ("8", "missing_model", "loras/verde_brand_style.safetensors is not on the server"),
    ]
    # Once the server lists them (in either source) the graph is clean.
    stocked = {"checkpoints": ["sd_xl_base_1.0.safetensors"]}
    info["LoraLoader"] = copy.deepcopy(LORA_LOADER)
    info["LoraLoader"]["input"]["required"]["lora_name"] = [
        "COMBO",
        {"options": ["verde_brand_style.safetensors"]},
    ]
    assert check_graph(graph, info, stocked) == []
    # Summary-only entries cannot judge a model; no folder listing either: nothing to say.
    del info["LoraLoader"]
    info["LoraLoader"] = object_info_index["LoraLoader"]
    assert check_graph(graph, info, stocked) == []


def test_ui_anchored_needs_the_ipadapter_custom_node(
    jobs: dict[str, ValidJob],
    params: dict[str, list[dict[str, Any]]],
    object_info_index: Info,
    uploads: dict[str, str],
) -> None:
    graph = build_graph(
        TEMPLATES["ui_anchored_v1"],
        params["ui_anchored_v1"][0],
        job=jobs["ui_anchored_v1"].job,
        uploads=uploads,
    )
    problems = check_graph(graph, object_info_index, {})
    assert kinds(problems) == [("11", "missing_node"), ("12", "missing_node")]
    assert "'IPAdapterUnifiedLoader' is not on the server" in problems[0].detail


def test_ipadapter_preset_files(
    jobs: dict[str, ValidJob],
    params: dict[str, list[dict[str, Any]]],
    object_info_index: Info,
    uploads: dict[str, str],
) -> None:
    graph = build_graph(
        TEMPLATES["ui_anchored_v1"],
        params["ui_anchored_v1"][0],
        job=jobs["ui_anchored_v1"].job,
        uploads=uploads,
    )
    info = {
        **object_info_index,
        "IPAdapterUnifiedLoader": {"output": ["MODEL", "IPADAPTER"]},
        "IPAdapterAdvanced": {"output": ["MODEL"]},
    }
    vit_h = "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"
    sd15_only = {"ipadapter": ["ip-adapter-plus_sd15.safetensors"], "clip_vision": [vit_h]}
    problems = check_graph(graph, info, sd15_only)
    assert [(p.node_id, p.kind) for p in problems] == [("11", "missing_model")]
    assert problems[0].detail.startswith("ipadapter/ip-adapter-plus_sdxl_vit-h.safetensors is not")
    sdxl = {"ipadapter": ["sdxl/ip-adapter-plus_sdxl_vit-h.safetensors"], "clip_vision": [vit_h]}
    assert check_graph(graph, info, sdxl) == []
    no_vision = {"ipadapter": ["ip-adapter-plus_sdxl_vit-h.bin"], "clip_vision": []}
    assert missing_models(check_graph(graph, info, no_vision)) == [f"clip_vision/{vit_h}"]
    refs = [(r.folder, r.name) for r in model_refs(graph)]
    assert ("ipadapter", "ip-adapter-plus_sdxl_vit-h.safetensors") in refs


@pytest.mark.parametrize("tid", sorted(TEMPLATES))
def test_every_template_class_exists_on_a_stock_server_or_is_ipadapter(
    tid: str, object_info_index: Info
) -> None:
    classes = {n["class_type"] for n in TEMPLATES[tid].graph().values()}
    missing = classes - set(object_info_index)
    assert missing <= {"IPAdapterUnifiedLoader", "IPAdapterAdvanced"}, missing


def test_legacy_folder_names_count() -> None:
    graph = {
        "1": {
            "class_type": "CLIPLoader",
            "inputs": {"clip_name": "umt5.safetensors", "type": "wan"},
        },
        "2": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": "wan.safetensors", "weight_dtype": "default"},
        },
    }
    info = {
        "CLIPLoader": {
            "input": {"required": {"clip_name": [[]], "type": [["wan"]]}},
            "output": ["CLIP"],
        },
        "UNETLoader": {
            "input": {"required": {"unet_name": [[]], "weight_dtype": [["default"]]}},
            "output": ["MODEL"],
        },
    }
    missing = check_graph(graph, info, {})
    assert missing_models(missing) == [
        "text_encoders/umt5.safetensors",
        "diffusion_models/wan.safetensors",
    ]
    assert (
        check_graph(graph, info, {"clip": ["umt5.safetensors"], "unet": ["wan.safetensors"]}) == []
    )


def test_a_missing_model_with_spaces_in_its_name_is_named_whole() -> None:
    """Model files may have spaces (and sit in subfolders): the problem carries the name."""
    graph = {
        "1": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {"lora_name": "brand/v2 final.safetensors"},
        }
    }
    info = {"LoraLoaderModelOnly": {"input": {"required": {"lora_name": [[]]}}}}
    (problem,) = check_graph(graph, info, {"loras": ["brand/v1.safetensors"]})
    assert (problem.folder, problem.name) == ("loras", "brand/v2 final.safetensors")
    assert missing_models([problem]) == ["loras/brand/v2 final.safetensors"]


def test_a_dangling_node_is_judged_like_the_server_judges_it(
    object_info_full: dict[str, Any],
) -> None:
    """The server checks every node's class, but values only where an output depends on them."""
    graph = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
        "3": {
            "class_type": "ImageScale",
            "inputs": {"upscale_method": "area", "width": 8, "height": 8, "crop": "center"},
        },
    }
    assert check_graph(graph, object_info_full, {}) == []  # 3 lacks its image, feeds nothing
    graph["3"]["class_type"] = "NoSuchNode"
    assert [p.kind for p in check_graph(graph, object_info_full, {})] == ["missing_node"]
    graph["3"] = {
        "class_type": "ImageScale",
        "inputs": {"upscale_method": "area", "width": 8, "height": 8, "crop": "center"},
    }
    graph["2"]["inputs"]["images"] = ["3", 0]
    assert "required input 'image' is missing" in str(check_graph(graph, object_info_full, {})[0])
