"""Roles inferred from workflows nobody annotated, and variants applied through them."""

import json
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.cli.template import bundled_object_info
from nightrun_dagster.workflows.analysis import Category, sweepable_parameters
from nightrun_dagster.workflows.apply import ApplyError, build_graph
from nightrun_dagster.workflows.roles import Role, RoleError, infer_roles
from nightrun_dagster.workflows.schemas import NodeSchemas
from nightrun_dagster.workflows.templates import (
    DEFAULT_WORKFLOWS_DIR,
    METADATA_KEY,
    Template,
    TemplateKind,
    load_templates,
)
from tests.workflows.conftest import api_workflow as api
from tests.workflows.conftest import import_api_graph

DATA = Path(__file__).resolve().parents[1] / "data" / "workflows"
SCHEMAS = NodeSchemas(bundled_object_info())


def set_roles(name: str) -> dict[str, str]:
    found = infer_roles(api(name), SCHEMAS)
    return {k: v for k, v in found.nodes.items() if v is not None}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    """Every API fixture imported as a template, as `nightrun template add` writes it."""
    folder = tmp_path_factory.mktemp("workflows")
    names = sorted(p.stem for p in (DATA / "api").glob("*.json"))
    return {name: import_api_graph(api(name), name, folder) for name in names}


def params(**values: Any) -> dict[str, Any]:
    base = {"job_key": "job", "night": "2026-02-09", "variant_id": "v0001"}
    return {**base, **values}


def test_sdxl_base_and_refiner_the_first_pass_is_the_sampler() -> None:
    roles = set_roles("sdxl_refiner")
    assert roles[Role.sampler] == "10"  # base KSamplerAdvanced, not the refiner (11)
    assert roles[Role.checkpoint] == "4"  # the base checkpoint, not the refiner's
    assert (roles[Role.positive], roles[Role.negative]) == ("6", "7")
    assert roles[Role.latent] == "5" and roles[Role.output] == "19"
    found = infer_roles(api("sdxl_refiner"), SCHEMAS)
    assert found.second_passes == ["11"]
    assert found.defaults["denoise"] is None  # KSamplerAdvanced has none
    assert any("two-pass" in note for note in found.notes)


def test_flux_separate_loaders_guidance_and_custom_sampler_parts() -> None:
    roles = set_roles("flux_dev")
    assert roles == {
        "unet": "12",
        "clip": "11",
        "vae": "10",
        "positive": "6",
        "sampler": "13",
        "noise": "25",
        "guider": "22",
        "sigmas": "17",
        "sampler_select": "16",
        "guidance": "26",
        "latent": "27",
        "output": "9",
    }
    defaults = infer_roles(api("flux_dev"), SCHEMAS).defaults
    assert defaults["cfg"] == 3.5  # FluxGuidance's guidance stands in for cfg
    assert defaults["sampler"] == "euler_simple"


def test_sampler_custom_advanced_with_cfg_guider_and_negative() -> None:
    roles = set_roles("custom_advanced_cfg")
    assert roles[Role.guider] == "4" and roles[Role.negative] == "3"
    defaults = infer_roles(api("custom_advanced_cfg"), SCHEMAS).defaults
    assert defaults == {
        "width": 832,
        "height": 1216,
        "steps": 24,
        "cfg": 5.5,
        "sampler": "dpmpp_2m_karras",
        "denoise": 1.0,
        "frames": None,
    }


def test_hires_fix_picks_the_first_pass_and_the_final_output() -> None:
    found = infer_roles(api("hires_fix"), SCHEMAS)
    assert found.nodes[Role.sampler] == "3"
    assert found.second_passes == ["11"]
    assert found.nodes[Role.output] == "13"  # the upscaled save, not the first-pass one (9)


def test_img2img_sizes_through_the_resize_and_loads_the_product() -> None:
    roles = set_roles("img2img")
    assert roles[Role.latent] == "12"  # VAEEncode
    assert roles[Role.image_resize] == "15"
    assert roles[Role.product_image] == "10"


def test_video_kind_follows_the_output_node() -> None:
    found = infer_roles(api("wan_t2v_webp"), SCHEMAS)
    assert found.kind is TemplateKind.video
    assert found.nodes[Role.video_latent] == "40"
    assert found.defaults["frames"] == 33
    assert infer_roles(api("flux_dev"), SCHEMAS).kind is TemplateKind.image


@pytest.mark.parametrize("tid", sorted(load_templates(DEFAULT_WORKFLOWS_DIR)))
def test_inference_finds_the_shipped_templates_hand_made_roles(tid: str) -> None:
    template = load_templates(DEFAULT_WORKFLOWS_DIR)[tid]
    if template.metadata["nodes"].get("sampler") is None:
        with pytest.raises(RoleError, match="no sampler"):  # smoke_v1 only inverts an image
            infer_roles(template.graph(), SCHEMAS)
        return
    found = infer_roles(template.graph(), SCHEMAS)
    for role, node_id in template.metadata["nodes"].items():
        if node_id is not None:
            assert found.nodes[role] == node_id, role
    assert found.defaults == {k: template.defaults.get(k) for k in found.defaults}


@pytest.mark.parametrize(
    ("name", "missing"),
    [("no_sampler", "no sampler"), ("no_output", "no output node"), ("no_prompt", "no prompt")],
)
def test_graphs_without_a_sampler_prompt_or_output_are_refused(name: str, missing: str) -> None:
    graph = json.loads((DATA / "refused" / f"{name}.json").read_text())
    with pytest.raises(RoleError, match=missing):
        infer_roles(graph, SCHEMAS)


def test_refiner_steps_keep_the_hand_over_fraction(templates: dict[str, Template]) -> None:
    graph = build_graph(templates["sdxl_refiner"], params(seed=5, steps=40, prompt="oil"))
    base, refiner = graph["10"]["inputs"], graph["11"]["inputs"]
    assert (base["steps"], base["end_at_step"]) == (40, 32)  # 20/25 of the schedule
    assert (refiner["steps"], refiner["start_at_step"]) == (40, 32)
    assert base["noise_seed"] == 5 and refiner["noise_seed"] == 5
    assert base["sampler_name"] == "euler"
    assert graph["6"]["inputs"]["text_g"] == "oil" and graph["6"]["inputs"]["text_l"] == "oil"


def test_flux_variant_goes_to_noise_scheduler_select_and_guidance(
    templates: dict[str, Template],
) -> None:
    graph = build_graph(
        templates["flux_dev"],
        params(seed=11, steps=8, cfg=2.5, sampler="dpmpp_2m_karras", prompt="a mug", width=768),
    )
    assert graph["25"]["inputs"]["noise_seed"] == 11
    assert graph["17"]["inputs"]["steps"] == 8
    assert graph["17"]["inputs"]["scheduler"] == "karras"
    assert graph["16"]["inputs"]["sampler_name"] == "dpmpp_2m"
    assert graph["26"]["inputs"]["guidance"] == 2.5
    assert graph["27"]["inputs"]["width"] == 768
    assert graph["6"]["inputs"]["text"] == "a mug"
    assert graph["9"]["inputs"]["filename_prefix"] == "nightrun/job/2026-02-09/v0001"


def test_custom_advanced_cfg_and_denoise_reach_guider_and_scheduler(
    templates: dict[str, Template],
) -> None:
    graph = build_graph(templates["custom_advanced_cfg"], params(cfg=4.0, denoise=0.8))
    assert graph["4"]["inputs"]["cfg"] == 4.0
    assert graph["7"]["inputs"]["denoise"] == 0.8


def test_denoise_below_one_on_a_sampler_without_it_is_explained(
    templates: dict[str, Template],
) -> None:
    build_graph(templates["sdxl_refiner"], params(denoise=1.0))  # a full render: nothing to set
    with pytest.raises(ApplyError, match=r"sdxl_refiner: its sampler \(KSamplerAdvanced\)"):
        build_graph(templates["sdxl_refiner"], params(denoise=0.5))


def test_hires_second_pass_gets_the_seed_and_keeps_its_settings(
    templates: dict[str, Template],
) -> None:
    graph = build_graph(templates["hires_fix"], params(seed=3, steps=30, cfg=5.0))
    assert graph["3"]["inputs"]["steps"] == 30 and graph["3"]["inputs"]["cfg"] == 5.0
    assert graph["11"]["inputs"]["seed"] == 3
    assert graph["11"]["inputs"]["steps"] == 14 and graph["11"]["inputs"]["denoise"] == 0.5


def test_video_frames_and_size_step(templates: dict[str, Template]) -> None:
    graph = build_graph(templates["wan_t2v_webp"], params(frames=49, width=480, height=832))
    assert graph["40"]["inputs"]["length"] == 49
    assert (graph["40"]["inputs"]["width"], graph["40"]["inputs"]["height"]) == (480, 832)


def test_imported_metadata_records_models_requirements_and_source(
    templates: dict[str, Template],
) -> None:
    meta = templates["img2img"].metadata
    assert meta["input_requirements"] == ["assets.product_images[0]"]
    assert meta["models"] == {"checkpoints": ["sd_xl_base_1.0.safetensors"]}
    assert meta["source"]["format"] == "api" and len(meta["source"]["sha256"]) == 64
    assert meta["version"] == "1.0.0" and meta["kind"] == "image"
    assert METADATA_KEY not in templates["img2img"].graph()
    flux = templates["flux_dev"].metadata["models"]
    assert flux == {
        "diffusion_models": ["flux1-dev.safetensors"],
        "text_encoders": ["clip_l.safetensors", "t5xxl_fp16.safetensors"],
        "vae": ["ae.safetensors"],
    }


def test_analysis_lists_every_sweepable_parameter_with_its_role() -> None:
    graph = api("sdxl_refiner")
    found = infer_roles(graph, SCHEMAS)
    params_found = sweepable_parameters(graph, SCHEMAS, found.nodes)
    by_key = {(p.node_id, p.input): p for p in params_found}
    seed = by_key[("10", "noise_seed")]
    assert (seed.category, seed.role, seed.value) == (Category.seed, "sampler", 721897303308196)
    assert by_key[("10", "cfg")].maximum == 100.0
    assert by_key[("10", "sampler_name")].choices and by_key[("10", "sampler_name")].choices > 10
    assert by_key[("12", "ckpt_name")].category is Category.model
    assert by_key[("6", "text_g")].category is Category.prompt
    assert ("5", "batch_size") not in by_key  # not worth sweeping
    assert by_key[("15", "ascore")].category is Category.other


def test_other_image_saves_become_previews_at_render_time(
    templates: dict[str, Template],
) -> None:
    graph = build_graph(templates["hires_fix"], params(seed=1))
    assert graph["13"]["class_type"] == "SaveImage"
    assert graph["9"] == {"inputs": {"images": ["8", 0]}, "class_type": "PreviewImage"}
    assert templates["hires_fix"].graph()["9"]["class_type"] == "SaveImage"  # file untouched


def test_split_schedules_keep_every_pass_running(tmp_path: Path) -> None:
    """Wan 2.2's two KSamplerAdvanced split 4 steps 0→2 and 2→4 (an explicit end): at 8
    steps they run 0→4 and 4→8, not 4→4."""
    graph = api("sdxl_refiner")
    graph["10"]["inputs"].update(steps=4, end_at_step=2)
    graph["11"]["inputs"].update(steps=4, start_at_step=2, end_at_step=4)
    sent = build_graph(import_api_graph(graph, "wan22", tmp_path), params(steps=8))
    assert (sent["10"]["inputs"]["start_at_step"], sent["10"]["inputs"]["end_at_step"]) == (0, 4)
    assert (sent["11"]["inputs"]["start_at_step"], sent["11"]["inputs"]["end_at_step"]) == (4, 8)
    assert sent["11"]["inputs"]["steps"] == 8


def test_refiner_encoders_get_the_variants_prompts(templates: dict[str, Template]) -> None:
    meta = templates["sdxl_refiner"].metadata
    assert meta["prompt_inputs"]["positive"] == [["6", "text_g"], ["6", "text_l"], ["15", "text"]]
    assert meta["prompt_inputs"]["negative"] == [["7", "text_g"], ["7", "text_l"], ["16", "text"]]
    sent = build_graph(templates["sdxl_refiner"], params(prompt="oil", negative="dull"))
    assert sent["15"]["inputs"]["text"] == "oil" and sent["16"]["inputs"]["text"] == "dull"


def test_flux_on_a_ksampler_sweeps_guidance_not_cfg(tmp_path: Path) -> None:
    """flux dev checkpoint workflows run the KSampler at cfg 1 with a FluxGuidance: the job's
    cfg is the guidance; CLIPTextEncodeFlux carries its own."""
    graph = api("hires_fix")
    for key in ("11", "10", "12", "13"):
        graph.pop(key)
    graph["20"] = {
        "class_type": "FluxGuidance",
        "inputs": {"guidance": 3.5, "conditioning": ["6", 0]},
    }
    graph["3"]["inputs"].update(cfg=1.0, positive=["20", 0])
    found = infer_roles(graph, SCHEMAS)
    assert found.nodes[Role.guidance] == "20" and found.defaults["cfg"] == 3.5
    sent = build_graph(import_api_graph(graph, "flux_ckpt", tmp_path), params(cfg=2.5))
    assert sent["20"]["inputs"]["guidance"] == 2.5 and sent["3"]["inputs"]["cfg"] == 1.0
    encoder = {
        "class_type": "CLIPTextEncodeFlux",
        "inputs": {"clip": ["4", 1], "clip_l": "a mug", "t5xxl": "a mug", "guidance": 4.0},
    }
    graph["6"] = encoder
    graph["20"]["inputs"]["conditioning"] = ["6", 0]
    graph["3"]["inputs"]["positive"] = ["6", 0]
    graph.pop("20")
    assert infer_roles(graph, SCHEMAS).nodes[Role.guidance] == "6"


def test_an_output_that_saves_no_picture_is_refused() -> None:
    graph = api("hires_fix")
    for key in ("8", "9", "12", "13"):
        graph.pop(key)
    graph["20"] = {
        "class_type": "SaveLatent",
        "inputs": {"samples": ["11", 0], "filename_prefix": "l"},
    }
    with pytest.raises(RoleError, match=r"no image or video output: the output nodes \(node 20"):
        infer_roles(graph, SCHEMAS)
