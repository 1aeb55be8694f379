"""Building the graph ComfyUI receives from a template and real params.json documents."""

import hashlib
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.workflows.apply import (
    CONTROLNET_MODELS,
    DEGRADE_LADDER,
    ApplyError,
    DegradeRung,
    InputsMapError,
    MissingInputError,
    build_graph,
    compose_prompt,
    graph_summary,
    halved_wan_length,
    next_rung,
    rung_named,
    scaled,
)
from nightrun_dagster.workflows.compat import is_link
from nightrun_dagster.workflows.samplers import SAMPLER_NAMES, SCHEDULER_NAMES
from nightrun_dagster.workflows.templates import (
    DEFAULT_WORKFLOWS_DIR,
    METADATA_KEY,
    Template,
    load_template,
    load_templates,
)

TEMPLATES = load_templates(DEFAULT_WORKFLOWS_DIR)
Params = dict[str, list[dict[str, Any]]]
Jobs = dict[str, ValidJob]
Make = Callable[..., dict[str, Any]]


def build(jobs: Jobs, tid: str, doc: dict[str, Any], uploads: dict[str, str], **kw: Any) -> dict:
    return build_graph(TEMPLATES[tid], doc, job=jobs[tid].job, uploads=uploads, **kw)


def links(graph: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
    return [
        (node_id, name, value)
        for node_id, node in graph.items()
        for name, value in node["inputs"].items()
        if is_link(value)
    ]


def role(tid: str, name: str) -> str:
    node_id = TEMPLATES[tid].metadata["nodes"][name]
    assert node_id is not None
    return node_id


def first(params: Params, tid: str, **match: Any) -> dict[str, Any]:
    """The first planned variant whose params match (e.g. controlnet=None)."""
    for doc in params[tid]:
        if all(doc[k] == v for k, v in match.items()):
            return doc
    raise AssertionError(f"no {tid} variant with {match}")


def lora(name: str, weight: float | None) -> dict[str, Any]:
    return {
        "name": name,
        "path": f"{name}.safetensors",
        "enabled": weight is not None,
        "weight": weight,
    }


# Every variant of every example job -------------------------------------------------------


@pytest.mark.parametrize("tid", sorted(TEMPLATES))
def test_every_planned_variant_builds_a_sound_graph(
    tid: str, jobs: Jobs, params: Params, uploads: dict[str, str]
) -> None:
    template = TEMPLATES[tid]
    before = template.path.read_bytes()
    pristine = template.graph()
    assert params[tid], tid
    for doc in params[tid]:
        graph = build(jobs, tid, doc, uploads)
        assert METADATA_KEY not in graph
        for node_id, name, (source, index) in links(graph):
            assert source in graph, f"{tid} {doc['variant_id']}: {node_id}.{name} -> {source}"
            assert index >= 0
        prefix = graph[role(tid, "output")]["inputs"]["filename_prefix"]
        assert prefix == f"nightrun/{doc['job_key']}/{doc['night']}/{doc['variant_id']}"
        sampler_id = template.metadata["nodes"]["sampler"]
        if sampler_id is not None:
            inputs = graph[sampler_id]["inputs"]
            assert (inputs["seed"], inputs["steps"]) == (doc["seed"], doc["steps"])
            assert (inputs["cfg"], inputs["denoise"]) == (doc["cfg"], doc["denoise"])
            assert inputs["sampler_name"] in SAMPLER_NAMES
            assert inputs["scheduler"] in SCHEDULER_NAMES
        enabled = [a for a in doc["loras"] if a["enabled"]]
        chain = graph_summary(graph)["loras"]
        assert [c["lora_name"] for c in chain] == [a["path"] for a in enabled]
        assert [c["strength_model"] for c in chain] == [a["weight"] for a in enabled]
    # Building hundreds of graphs changed neither the file nor what the template parses to.
    assert template.path.read_bytes() == before
    assert hashlib.sha256(before).hexdigest() == template.sha256
    assert template.graph() == pristine


@pytest.mark.parametrize("tid", sorted(TEMPLATES))
def test_builds_are_deterministic_and_new(
    tid: str, jobs: Jobs, params: Params, uploads: dict[str, str]
) -> None:
    doc = params[tid][-1]
    a = build(jobs, tid, doc, uploads)
    b = build(jobs, tid, json.loads(json.dumps(doc)), dict(reversed(uploads.items())))
    assert json.dumps(a) == json.dumps(b)
    a[next(iter(a))]["inputs"]["poisoned"] = True
    c = build(jobs, tid, doc, uploads)
    assert "poisoned" not in c[next(iter(c))]["inputs"]
    assert json.dumps(c) == json.dumps(b)


# Prompts -----------------------------------------------------------------------------------


def test_positive_prompt_carries_the_ad_copy_convention(
    jobs: Jobs, params: Params, uploads: dict[str, str]
) -> None:
    doc = params["static_ad_v1"][0]
    graph = build(jobs, "static_ad_v1", doc, uploads)
    assert graph["2"]["inputs"]["text"] == (
        f'{doc["prompt"]}, ad copy: headline "El mate de siempre, 2x1", brand "Verde", '
        'product "Yerba Mate Verde 500 g", price "$ 4.999", palette #146E46 #FAF0D2 #FF8C00'
    )
    assert graph["3"]["inputs"]["text"] == "blurry, watermark, extra text, deformed packaging"


def test_numeric_price_and_absent_parts(
    jobs: Jobs, params: Params, uploads: dict[str, str]
) -> None:
    ui = params["ui_anchored_v1"][0]
    text = build(jobs, "ui_anchored_v1", ui, uploads)[role("ui_anchored_v1", "positive")]
    assert text["inputs"]["text"].endswith(
        'product "Yerba Mate Verde 500 g", price "4999", palette #146E46 #005AA0'
    )
    video = params["wan21_teaser_v1"][0]
    graph = build(jobs, "wan21_teaser_v1", video, uploads)
    assert graph["5"]["inputs"]["text"] == (
        f'{video["prompt"]}, ad copy: headline "Verde, el mate de todos", brand "Verde", '
        'product "Yerba Mate Verde 500 g"'
    )
    # No negative variants: the template's own negative prompt stays.
    assert video["negative"] is None
    assert (
        graph["6"]["inputs"]["text"] == TEMPLATES["wan21_teaser_v1"].graph()["6"]["inputs"]["text"]
    )


def test_double_quotes_in_values_become_typographic(jobs: Jobs) -> None:
    job = jobs["static_ad_v1"].job
    product = job.product.model_copy(update={"name": 'Yerba "Verde"', "brand_colors": ["#abc"]})
    copy = job.copy_.model_copy(update={"headline": 'Dijo "2x1"'})
    quoted = job.model_copy(update={"product": product, "copy_": copy})
    text = compose_prompt("p", quoted)
    assert text == (
        'p, ad copy: headline "Dijo ’2x1’", brand "Verde", product "Yerba ’Verde’", '
        'price "$ 4.999", palette #AABBCC'
    )
    assert compose_prompt("p", None) == "p"


# Samplers ----------------------------------------------------------------------------------


def test_friendly_sampler_names_reach_the_ksampler(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    doc = params["static_ad_v1"][0]
    cases = {
        "dpmpp_2m_karras": ("dpmpp_2m", "karras"),
        "euler_a": ("euler_ancestral", "karras"),  # the template's scheduler stays
        "DPM++ 2M Karras": ("dpmpp_2m", "karras"),
        "euler": ("euler", "karras"),
        "uni_pc_simple": ("uni_pc", "simple"),
    }
    for name, expected in cases.items():
        graph = build(jobs, "static_ad_v1", build_params(doc, sampler=name), uploads)
        got = graph["5"]["inputs"]
        assert (got["sampler_name"], got["scheduler"]) == expected, name
    untouched = build(jobs, "static_ad_v1", build_params(doc, sampler=None), uploads)
    assert (untouched["5"]["inputs"]["sampler_name"], untouched["5"]["inputs"]["scheduler"]) == (
        "dpmpp_2m",
        "karras",
    )


# LoRA chain injection ----------------------------------------------------------------------


def test_no_enabled_lora_adds_nothing(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    doc = build_params(params["static_ad_v1"][0], loras=[lora("off", None)])
    graph = build(jobs, "static_ad_v1", doc, uploads)
    assert set(graph) == set(TEMPLATES["static_ad_v1"].graph())
    assert graph["5"]["inputs"]["model"] == ["1", 0]
    assert graph["2"]["inputs"]["clip"] == ["1", 1]


@pytest.mark.parametrize("count", [1, 3])
def test_lora_chain_on_sdxl_checkpoint(
    count: int, jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    arms = [lora(f"style{i}", 0.3 + i / 10) for i in range(count)]
    graph = build(
        jobs, "static_ad_v1", build_params(params["static_ad_v1"][0], loras=arms), uploads
    )
    new_ids = [str(8 + i) for i in range(count)]  # max id 7 + 1, …
    assert [graph[i]["class_type"] for i in new_ids] == ["LoraLoader"] * count
    assert [graph[i]["inputs"]["lora_name"] for i in new_ids] == [a["path"] for a in arms]
    for node_id, arm in zip(new_ids, arms, strict=True):
        assert graph[node_id]["inputs"]["strength_model"] == arm["weight"]
        assert graph[node_id]["inputs"]["strength_clip"] == arm["weight"]
    # The chain: checkpoint -> first -> … -> last.
    assert graph[new_ids[0]]["inputs"]["model"] == ["1", 0]
    assert graph[new_ids[0]]["inputs"]["clip"] == ["1", 1]
    for prev, cur in itertools.pairwise(new_ids):
        assert graph[cur]["inputs"]["model"] == [prev, 0]
        assert graph[cur]["inputs"]["clip"] == [prev, 1]
    last = new_ids[-1]
    assert graph["5"]["inputs"]["model"] == [last, 0]
    assert graph["2"]["inputs"]["clip"] == [last, 1]
    assert graph["3"]["inputs"]["clip"] == [last, 1]
    assert graph["6"]["inputs"]["vae"] == ["1", 2]  # the VAE output is not rewired
    readers = [(n, k) for n, k, v in links(graph) if v in (["1", 0], ["1", 1])]
    assert readers == [(new_ids[0], "model"), (new_ids[0], "clip")]


def test_disabled_arms_are_skipped_and_order_kept(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    arms = [lora("a", 1.0), lora("b", None), lora("c", 0.4)]
    graph = build(
        jobs, "static_ad_v1", build_params(params["static_ad_v1"][0], loras=arms), uploads
    )
    chain = graph_summary(graph)["loras"]
    assert [(c["node_id"], c["lora_name"]) for c in chain] == [
        ("8", "a.safetensors"),
        ("9", "c.safetensors"),
    ]
    assert "10" not in graph


def test_loras_go_before_the_ip_adapter(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    arms = [lora("ui_a", 0.5), lora("ui_b", 0.8)]
    doc = build_params(params["ui_anchored_v1"][0], loras=arms)
    graph = build(jobs, "ui_anchored_v1", doc, uploads)
    assert graph["16"]["inputs"]["model"] == ["1", 0]
    assert graph["17"]["inputs"]["model"] == ["16", 0]
    assert graph["11"]["inputs"]["model"] == ["17", 0]  # IPAdapterUnifiedLoader
    assert graph["13"]["inputs"]["model"] == ["12", 0]  # KSampler still after IPAdapterAdvanced
    assert graph["6"]["inputs"]["clip"] == ["17", 1]
    assert graph["7"]["inputs"]["clip"] == ["17", 1]
    assert graph["5"]["inputs"]["vae"] == ["1", 2]
    readers = [(n, k) for n, k, v in links(graph) if v in (["1", 0], ["1", 1])]
    assert readers == [("16", "model"), ("16", "clip")]


def test_loras_on_wan_unet_and_clip_loader(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    arms = [lora("motion", 0.6), lora("brand", 1.0), lora("grain", 0.2)]
    doc = build_params(params["wan21_teaser_v1"][0], loras=arms)
    graph = build(jobs, "wan21_teaser_v1", doc, uploads)
    assert graph["12"]["inputs"]["model"] == ["1", 0]  # UNETLoader
    assert graph["12"]["inputs"]["clip"] == ["2", 0]  # CLIPLoader
    assert graph["13"]["inputs"]["model"] == ["12", 0]
    assert graph["14"]["inputs"]["clip"] == ["13", 1]
    assert graph["4"]["inputs"]["model"] == ["14", 0]  # ModelSamplingSD3
    assert graph["8"]["inputs"]["model"] == ["4", 0]  # KSampler unchanged
    assert graph["5"]["inputs"]["clip"] == ["14", 1]
    assert graph["6"]["inputs"]["clip"] == ["14", 1]
    readers = [(n, k) for n, k, v in links(graph) if v in (["1", 0], ["2", 0])]
    assert readers == [("12", "model"), ("12", "clip")]


def test_loras_need_a_model_loader(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    doc = build_params(params["smoke_v1"][0], loras=[lora("x", 1.0)])
    with pytest.raises(ApplyError, match="no checkpoint or UNet"):
        build(jobs, "smoke_v1", doc, uploads)


# ControlNet and IP-Adapter -----------------------------------------------------------------


def test_controlnet_arm_sets_strength_and_model(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    doc = params["ui_anchored_v1"][0]
    assert doc["controlnet"] == {"type": "canny", "weight": 0.55}
    graph = build(jobs, "ui_anchored_v1", doc, uploads)
    assert graph["10"]["inputs"]["strength"] == 0.55
    assert graph["8"]["inputs"]["control_net_name"] == CONTROLNET_MODELS["canny"]
    assert CONTROLNET_MODELS["depth"] == "controlnet-depth-sdxl-1.0.safetensors"
    depth = build_params(doc, controlnet={"type": "depth", "weight": 0.9})
    custom = build(
        jobs, "ui_anchored_v1", depth, uploads, controlnet_models={"depth": "my-depth.safetensors"}
    )
    assert custom["8"]["inputs"]["control_net_name"] == "my-depth.safetensors"
    assert custom["10"]["inputs"]["strength"] == 0.9
    with pytest.raises(ApplyError, match="no ControlNet model for type 'depth'"):
        build(jobs, "ui_anchored_v1", depth, uploads, controlnet_models={})
    static = build_params(params["static_ad_v1"][0], controlnet={"type": "canny", "weight": 1})
    with pytest.raises(ApplyError, match="has no ControlNet node"):
        build(jobs, "static_ad_v1", static, uploads)


def test_no_controlnet_arm_runs_the_templates_controlnet_as_saved(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    doc = build_params(params["ui_anchored_v1"][0], controlnet=None)
    graph = build(jobs, "ui_anchored_v1", doc, uploads)
    saved = TEMPLATES["ui_anchored_v1"].graph()
    for node_id in ("8", "9", "10"):
        assert graph[node_id] == saved[node_id]
    assert graph["13"]["inputs"]["positive"] == ["10", 0]
    assert graph["13"]["inputs"]["negative"] == ["10", 1]


def test_a_teams_own_controlnet_model_stays(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make, tmp_path: Path
) -> None:
    """Only our SDXL ControlNet set is swapped by the job's type; a file the template's
    author chose (an SD1.5 scribble model) stays, only its strength is swept."""
    doc = json.loads(TEMPLATES["ui_anchored_v1"].path.read_text())
    doc["8"]["inputs"]["control_net_name"] = "control_v11p_sd15_scribble_fp16.safetensors"
    path = tmp_path / "ui_anchored_v1.json"
    path.write_text(json.dumps(doc))
    own = load_template(path)
    arm = build_params(params["ui_anchored_v1"][0], controlnet={"type": "depth", "weight": 0.4})
    arm["template"]["sha256"] = own.sha256
    graph = build_graph(own, arm, job=jobs["ui_anchored_v1"].job, uploads=uploads)
    assert graph["8"]["inputs"]["control_net_name"] == "control_v11p_sd15_scribble_fp16.safetensors"
    assert graph["10"]["inputs"]["strength"] == 0.4


def test_ip_adapter_weight(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    doc = params["ui_anchored_v1"][0]
    assert build(jobs, "ui_anchored_v1", doc, uploads)["12"]["inputs"]["weight"] == 0.7
    weighted = build_params(doc, ipadapter_weight=0.35)
    assert build(jobs, "ui_anchored_v1", weighted, uploads)["12"]["inputs"]["weight"] == 0.35
    static = build_params(params["static_ad_v1"][0], ipadapter_weight=0.35)
    with pytest.raises(ApplyError, match="no IP-Adapter node"):
        build(jobs, "static_ad_v1", static, uploads)


# Input images ------------------------------------------------------------------------------


def test_load_image_nodes_get_uploaded_names(
    jobs: Jobs, params: Params, uploads: dict[str, str]
) -> None:
    graph = build(jobs, "ui_anchored_v1", params["ui_anchored_v1"][0], uploads)
    assert graph["2"]["inputs"]["image"] == "nightrun_ui_checkout_screen.png"
    assert graph["3"]["inputs"]["image"] == "nightrun_product_yerba.png"


def test_missing_inputs_are_named(jobs: Jobs, params: Params, uploads: dict[str, str]) -> None:
    template, doc = TEMPLATES["ui_anchored_v1"], params["ui_anchored_v1"][0]
    job = jobs["ui_anchored_v1"].job
    no_screens = job.model_copy(
        update={"assets": job.assets.model_copy(update={"base_ui_screens": None})}
    )
    with pytest.raises(MissingInputError, match=r"assets\.base_ui_screens\[0\]: .*job has none"):
        build_graph(template, doc, job=no_screens, uploads=uploads)
    with pytest.raises(MissingInputError, match=r"ui_checkout_screen\.png was not uploaded") as exc:
        build_graph(template, doc, job=job, uploads={})
    assert exc.value.role == "base_image"
    with pytest.raises(MissingInputError, match="no job given"):
        build_graph(template, doc, uploads=uploads)


# inputs_map --------------------------------------------------------------------------------


def test_inputs_map_of_the_static_example_keeps_the_prompt(
    jobs: Jobs, params: Params, uploads: dict[str, str]
) -> None:
    doc = params["static_ad_v1"][0]
    assert doc["inputs_map"] == {"copy.headline": "2.text"}
    text = build(jobs, "static_ad_v1", doc, uploads)["2"]["inputs"]["text"]
    assert text.startswith(doc["prompt"] + ", ad copy: ")
    assert text.count("El mate de siempre, 2x1") == 1


def test_inputs_map_by_role_index_and_number(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    mapping = {
        "copy.subheadline": "positive.text",
        "priority": "sampler.seed",
        "product.brand_colors[1]": ["negative.text"],
    }
    doc = build_params(params["static_ad_v1"][0], inputs_map=mapping)
    graph = build(jobs, "static_ad_v1", doc, uploads)
    assert graph["2"]["inputs"]["text"].endswith(", Yerba Verde 500 g a $ 4.999")
    assert graph["5"]["inputs"]["seed"] == 70
    assert graph["3"]["inputs"]["text"].endswith(", #FAF0D2")
    ui = build_params(
        params["ui_anchored_v1"][0], inputs_map={"assets.product_images[0]": "3.image"}
    )
    assert build(jobs, "ui_anchored_v1", ui, uploads)["3"]["inputs"]["image"] == (
        "nightrun_product_yerba.png"
    )


@pytest.mark.parametrize(
    ("field", "target", "reason"),
    [
        ("copy.headline", "99.text", "no node or role '99'"),
        ("copy.headline", "refiner.text", "no node or role 'refiner'"),
        ("copy.headline", "controlnet_apply.strength", "static_ad_v1 has no controlnet_apply"),
        ("copy.headline", "2.nope", "node 2 (CLIPTextEncode) has no input 'nope'"),
        ("copy.headline", "5.model", "is a link"),
        ("copy.headline", "headline", "is not 'node.input'"),
        ("copy.tagline", "2.text", "no field 'tagline' in copy"),
        ("nope.x", "2.text", "no field 'nope' in the job"),
        ("assets.product_images[3]", "2.text", "assets.product_images[3] is out of range"),
        ("copy", "2.text", "is an object or a list"),
        ("copy..headline", "2.text", "not a field path"),
        ("goal.nothing[0]", "2.text", "no field 'nothing' in goal"),
    ],
)
def test_inputs_map_errors_name_the_field(
    field: str,
    target: str,
    reason: str,
    jobs: Jobs,
    params: Params,
    uploads: dict[str, str],
    build_params: Make,
) -> None:
    doc = build_params(params["static_ad_v1"][0], inputs_map={field: target})
    with pytest.raises(InputsMapError, match=re.escape(reason)) as exc:
        build(jobs, "static_ad_v1", doc, uploads)
    assert exc.value.field == field
    assert str(exc.value).startswith(f"generation.workflow.inputs_map[{field!r}]: ")


def test_inputs_map_unset_value_and_no_job(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    doc = build_params(params["ui_anchored_v1"][0], inputs_map={"goal.offer": "6.text"})
    with pytest.raises(InputsMapError, match="is not set in the job"):
        build(jobs, "ui_anchored_v1", doc, uploads)
    with pytest.raises(InputsMapError, match="no job was given"):
        build_graph(TEMPLATES["static_ad_v1"], params["static_ad_v1"][0])


# Sizes and the degrade ladder --------------------------------------------------------------


def test_size_and_frames_follow_params(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    static = build_params(params["static_ad_v1"][0], width=1080, height=1080)
    graph = build(jobs, "static_ad_v1", static, uploads)
    assert (graph["4"]["inputs"]["width"], graph["4"]["inputs"]["height"]) == (1080, 1080)
    ui = build_params(params["ui_anchored_v1"][0], width=832, height=1216)
    graph = build(jobs, "ui_anchored_v1", ui, uploads)
    assert (graph["4"]["inputs"]["width"], graph["4"]["inputs"]["height"]) == (832, 1216)
    video = build_params(params["wan21_teaser_v1"][0], frames=33)
    assert build(jobs, "wan21_teaser_v1", video, uploads)["7"]["inputs"]["length"] == 33
    bad = build_params(params["static_ad_v1"][0], frames=33)
    with pytest.raises(ApplyError, match="no video latent"):
        build(jobs, "static_ad_v1", bad, uploads)


def test_the_ladder() -> None:
    assert [r.level for r in DEGRADE_LADDER] == [0, 1, 2, 3]
    assert [r.name for r in DEGRADE_LADDER] == [
        "none",
        "resolution_75",
        "resolution_50",
        "batch1_half_frames",
    ]
    assert next_rung(None) is DEGRADE_LADDER[1]
    assert next_rung(DEGRADE_LADDER[1]) is DEGRADE_LADDER[2]
    assert next_rung(DEGRADE_LADDER[3]) is None
    assert rung_named("resolution_50") is DEGRADE_LADDER[2]
    with pytest.raises(KeyError):
        rung_named("nope")
    rung = DEGRADE_LADDER[1]
    with pytest.raises(AttributeError):
        rung.scale = 2.0  # type: ignore[misc]
    assert scaled(1280, 0.75) == 960
    assert scaled(1000, 0.75) == 752  # 750 -> nearest multiple of 8
    assert scaled(480, 0.75, 16) == 368
    assert scaled(8, 0.5) == 8
    lengths = {f: halved_wan_length(f) for f in (1, 5, 9, 33, 49, 81, 121)}
    assert lengths == {1: 1, 5: 1, 9: 5, 33: 17, 49: 25, 81: 41, 121: 61}
    assert all((n - 1) % 4 == 0 and n <= f for f, n in lengths.items())


@pytest.mark.parametrize(
    ("tid", "node", "sizes"),
    [
        ("static_ad_v1", "4", [(1024, 1280), (768, 960), (512, 640), (512, 640)]),
        ("ui_anchored_v1", "4", [(1024, 1280), (768, 960), (512, 640), (512, 640)]),
        ("wan21_teaser_v1", "7", [(832, 480), (624, 368), (416, 240), (416, 240)]),
    ],
)
def test_degrade_rungs_shrink_the_render(
    tid: str,
    node: str,
    sizes: list[tuple[int, int]],
    jobs: Jobs,
    params: Params,
    uploads: dict[str, str],
    build_params: Make,
) -> None:
    doc = params[tid][0]
    plain = build(jobs, tid, doc, uploads)
    for rung, size in zip(DEGRADE_LADDER, sizes, strict=True):
        graph = build(jobs, tid, doc, uploads, degrade=rung)
        got = graph[node]["inputs"]
        assert (got["width"], got["height"]) == size, rung.name
        assert all(v % 8 == 0 for v in size)
        if rung.level == 0:
            assert graph == plain
    bottom = build(jobs, tid, build_params(doc), uploads, degrade=DEGRADE_LADDER[3])
    if tid == "wan21_teaser_v1":
        assert plain["7"]["inputs"]["length"] == 49
        assert bottom["7"]["inputs"]["length"] == 25
    batch = [n["inputs"]["batch_size"] for n in bottom.values() if "batch_size" in n["inputs"]]
    assert batch == [1] * len(batch)


def test_batch_rung_forces_batch_one(jobs: Jobs, params: Params, uploads: dict[str, str]) -> None:
    template = TEMPLATES["static_ad_v1"]
    doc = params["static_ad_v1"][0]
    only_batch = DegradeRung(9, "batch_only", batch_one=True)
    graph = build_graph(template, doc, job=jobs["static_ad_v1"].job, degrade=only_batch)
    assert graph["4"]["inputs"]["batch_size"] == 1
    assert (graph["4"]["inputs"]["width"], graph["4"]["inputs"]["height"]) == (1024, 1280)


# Identity checks and the summary -----------------------------------------------------------


def test_params_must_match_template_and_job(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    doc = params["static_ad_v1"][0]
    other = build_params(doc, template={**doc["template"], "id": "ui_anchored_v1"})
    with pytest.raises(ApplyError, match="params are for template 'ui_anchored_v1'"):
        build(jobs, "static_ad_v1", other, uploads)
    stale = build_params(doc, template={**doc["template"], "sha256": "0" * 64})
    with pytest.raises(ApplyError, match="changed after this variant was planned"):
        build(jobs, "static_ad_v1", stale, uploads)
    with pytest.raises(ApplyError, match="params are for job"):
        build_graph(TEMPLATES["static_ad_v1"], doc, job=jobs["ui_anchored_v1"].job)
    with pytest.raises(ApplyError, match="params lack variant_id"):
        build(jobs, "static_ad_v1", build_params(doc, variant_id=None), uploads)


def test_a_template_edited_on_disk_is_refused(tmp_path: Any, params: Params, jobs: Jobs) -> None:
    from nightrun_dagster.workflows.templates import load_template

    path = tmp_path / "static_ad_v1.json"
    path.write_bytes(TEMPLATES["static_ad_v1"].path.read_bytes())
    template: Template = load_template(path)
    path.write_text(path.read_text().replace("28", "30"))
    with pytest.raises(ApplyError, match="changed on disk"):
        build_graph(template, params["static_ad_v1"][0], job=jobs["static_ad_v1"].job)


def test_graph_summaries(
    jobs: Jobs, params: Params, uploads: dict[str, str], build_params: Make
) -> None:
    static = build_params(params["static_ad_v1"][0], loras=[lora("a", 0.4), lora("b", 1.0)])
    summary = graph_summary(build(jobs, "static_ad_v1", static, uploads))
    assert summary["models"] == {
        "checkpoints": ["sd_xl_base_1.0.safetensors"],
        "loras": ["a.safetensors", "b.safetensors"],
    }
    assert summary["outputs"] == ["7"]
    assert summary["node_count"] == 9
    assert "LoraLoader" in summary["classes"]
    ui = graph_summary(build(jobs, "ui_anchored_v1", params["ui_anchored_v1"][0], uploads))
    assert ui["models"] == {
        "checkpoints": ["sd_xl_base_1.0.safetensors"],
        "clip_vision": ["CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"],
        "controlnet": ["controlnet-canny-sdxl-1.0.safetensors"],
        "ipadapter": ["ip-adapter-plus_sdxl_vit-h.safetensors"],
    }
    wan = graph_summary(build(jobs, "wan21_teaser_v1", params["wan21_teaser_v1"][0], uploads))
    assert wan["models"] == {
        "diffusion_models": ["wan2.1_t2v_1.3B_fp16.safetensors"],
        "text_encoders": ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"],
        "vae": ["wan_2.1_vae.safetensors"],
    }
    assert wan["outputs"] == ["11"]
    smoke = graph_summary(build(jobs, "smoke_v1", params["smoke_v1"][0], uploads))
    assert smoke["models"] == {}
    assert smoke["outputs"] == ["4"]
    # With object_info the server decides what is an output.
    info = {"SaveImage": {"output_node": False}, "ImageScale": {"output_node": True}}
    assert graph_summary(build(jobs, "smoke_v1", params["smoke_v1"][0], uploads), info)[
        "outputs"
    ] == ["3"]
