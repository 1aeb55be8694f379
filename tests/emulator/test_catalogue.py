"""The emulator's catalogue is a real ComfyUI 0.3.64's: all 478 classes, validated by their real
schemas, with combos listing the emulator's own models and uploads."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from nightrun_dagster.comfy.client import ComfyClient, Timeouts
from nightrun_dagster.comfy.errors import (
    ComfyExecutionError,
    ComfyMissingModel,
    ComfyValidationError,
)
from nightrun_dagster.emulator import EmulatorServer
from nightrun_dagster.emulator.catalogue import MODEL_INPUTS, UPLOAD_INPUTS
from nightrun_dagster.emulator.config import default_models

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "nightrun_dagster" / "emulator"
CATALOGUE = PACKAGE / "data" / "object_info_full.json"
CAPTURES = Path(__file__).resolve().parent / "captures"
FAST = Timeouts(connect=2, request=10, stall=10, poll=0.2, unavailable=2)
EXTRAS = {"IPAdapterUnifiedLoader", "IPAdapterAdvanced"}


def real() -> dict[str, Any]:
    return json.loads(CATALOGUE.read_text())


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 140, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def combo(info: dict[str, Any], name: str) -> list[str]:
    """A combo's options, V1 (`[[…], {…}]`) or V3 (`["COMBO", {"options": […]}]`)."""
    for section in ("required", "optional"):
        spec = info["input"].get(section, {}).get(name)
        if spec is not None:
            return spec[1]["options"] if spec[0] == "COMBO" else spec[0]
    raise KeyError(name)


def without_folder_combos(catalogue: dict[str, Any]) -> dict[str, Any]:
    """The catalogue with every model-folder and upload combo emptied."""
    out = copy.deepcopy(catalogue)
    places = [*((c, n) for c, names in MODEL_INPUTS.items() for n in names), *UPLOAD_INPUTS]
    for class_type, name in places:
        for section in ("required", "optional"):
            spec = out[class_type]["input"].get(section, {}).get(name)
            if spec is not None:
                if spec[0] == "COMBO":
                    spec[1]["options"] = []
                else:
                    spec[0] = []
    return out


def submit_rejected(sim: EmulatorServer, graph: dict[str, Any]) -> ComfyValidationError:
    async def go() -> ComfyValidationError:
        async with ComfyClient(sim.url, timeouts=FAST) as client:
            with pytest.raises(ComfyValidationError) as caught:
                await client.submit(graph)
            return caught.value

    return asyncio.run(go())


def test_serves_all_478_real_classes_and_the_custom_nodes(emulator: EmulatorServer) -> None:
    async def fetch() -> tuple[dict[str, Any], dict[str, Any]]:
        async with ComfyClient(emulator.url, timeouts=FAST) as client:
            return await client.object_info(), await client.object_info("KSamplerAdvanced")

    served, one = asyncio.run(fetch())
    captured = real()
    assert len(captured) == 478
    assert set(served) == set(captured) | EXTRAS
    # The real server's NODE_CLASS_MAPPINGS order: nodes.py first, custom nodes last.
    assert list(served)[:6] == [
        "KSampler",
        "CheckpointLoaderSimple",
        "CLIPTextEncode",
        "CLIPSetLastLayer",
        "VAEDecode",
        "VAEEncode",
    ]
    assert list(served)[-3:] == [*sorted(EXTRAS, reverse=True), "SaveImageWebsocket"]
    assert list(served).index("SamplerCustomAdvanced") < list(served).index("WanImageToVideo")
    assert {served[n]["python_module"] for n in EXTRAS} == {"custom_nodes.ComfyUI_IPAdapter_plus"}
    # Apart from what lists this server's files, every class is exactly the captured one.
    mine = {name: info for name, info in served.items() if name not in EXTRAS}
    assert without_folder_combos(mine) == without_folder_combos(captured)
    assert one == {"KSamplerAdvanced": served["KSamplerAdvanced"]}
    # Declaration order, not the capture's sorted keys: inputs as input_order lists them, a V3
    # class's keys as NodeInfoV1 does.
    for name, info in served.items():
        for section, names in info["input_order"].items():
            assert list(info["input"][section]) == names, (name, section)
    assert list(served["KSamplerAdvanced"]["input"]["required"])[:3] == [
        "model",
        "add_noise",
        "noise_seed",
    ]
    assert list(served["WanImageToVideo"]["input"]) == ["required", "optional"]
    primitive = json.loads((CAPTURES / "object_info_PrimitiveString.json").read_text())
    v3_keys = list(primitive["response"]["PrimitiveString"])
    assert list(served["SaveVideo"]) == v3_keys
    assert list(served["EmptySD3LatentImage"]) == v3_keys


def test_folder_combos_list_what_this_emulator_holds(emulator_factory, tmp_path: Path) -> None:
    models = default_models()
    models["text_encoders"] += ["clip_l.safetensors", "t5xxl_fp8_e4m3fn.safetensors"]
    models["upscale_models"] = ["RealESRGAN_x4plus.pth"]
    models["vae_approx"] = ["taesdxl_decoder.pth", "taesdxl_encoder.pth", "taesd_decoder.pth"]
    models["style_models"] = ["flux1-redux-dev.safetensors"]
    sim = emulator_factory(models=models, missing_models={"clip_l.safetensors"})
    for name, data in (("shot.png", png()), ("notes.txt", b"hi"), ("clip.mp4", b"\0\0")):
        files = {"image": (name, data, "application/octet-stream")}
        httpx.post(f"{sim.url}/upload/image", files=files).raise_for_status()
    info = httpx.get(f"{sim.url}/object_info").json()
    encoders = ["t5xxl_fp8_e4m3fn.safetensors", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"]
    assert combo(info["DualCLIPLoader"], "clip_name1") == encoders  # clip_l is hidden
    assert combo(info["QuadrupleCLIPLoader"], "clip_name4") == encoders  # a V3 combo
    assert combo(info["UpscaleModelLoader"], "model_name") == ["RealESRGAN_x4plus.pth"]
    assert combo(info["StyleModelLoader"], "style_model_name") == ["flux1-redux-dev.safetensors"]
    assert combo(info["CLIPVisionLoader"], "clip_name") == list(models["clip_vision"])
    assert combo(info["UNETLoader"], "unet_name") == list(models["diffusion_models"])
    assert combo(info["LoraLoaderModelOnly"], "lora_name") == sorted(models["loras"])
    # VAELoader.vae_list: files, complete TAESD pairs, then pixel_space.
    assert combo(info["VAELoader"], "vae_name") == [
        "wan_2.1_vae.safetensors",
        "taesdxl",
        "pixel_space",
    ]
    assert combo(info["LoadImage"], "image") == ["shot.png"]
    assert combo(info["LoadImageMask"], "image") == ["clip.mp4", "notes.txt", "shot.png"]
    assert combo(info["LoadVideo"], "file") == ["clip.mp4"]
    assert combo(info["GLIGENLoader"], "gligen_name") == []


def test_the_catalogue_ships_as_package_data() -> None:
    """Users have no ../shared: the JSON files are in the package and setuptools includes them."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["nightrun_dagster.emulator"]
    shipped = {p.relative_to(PACKAGE).as_posix() for pat in patterns for p in PACKAGE.glob(pat)}
    assert {"data/object_info_full.json", "data/class_order.json"} <= shipped
    order = json.loads((PACKAGE / "data" / "class_order.json").read_text())["classes"]
    assert sorted(order) == sorted(real())


def test_a_bad_enum_on_a_real_class_is_rejected_with_the_real_error(emulator) -> None:
    graph = json.loads((Path(__file__).parent / "data/graphs/sdxl_base_refiner.json").read_text())
    graph["2"]["inputs"]["ckpt_name"] = "sd_xl_base_1.0.safetensors"
    graph["8"]["inputs"]["add_noise"] = "sometimes"
    rejected = submit_rejected(emulator, graph)
    assert rejected.error["type"] == "prompt_outputs_failed_validation"
    assert rejected.node_errors == {
        "8": {
            "errors": [
                {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": "add_noise: 'sometimes' not in ['enable', 'disable']",
                    "extra_info": {
                        "input_name": "add_noise",
                        "input_config": [["enable", "disable"], {}],
                        "received_value": "sometimes",
                    },
                }
            ],
            "dependent_outputs": ["11"],
            "class_type": "KSamplerAdvanced",
        }
    }


def test_real_schemas_check_ranges_links_required_inputs_and_models(emulator) -> None:
    flux = json.loads((Path(__file__).parent / "data/graphs/flux_dev.json").read_text())
    flux["10"]["inputs"]["steps"] = 0  # BasicScheduler: min 1
    flux["10"]["inputs"]["model"] = ["11", 0]  # a LATENT into BasicScheduler's MODEL
    del flux["5"]["inputs"]["guidance"]  # FluxGuidance
    rejected = submit_rejected(emulator, flux)
    errors = {
        n: sorted(e["type"] for e in entry["errors"]) for n, entry in rejected.node_errors.items()
    }
    assert errors == {
        "1": ["value_not_in_list"],  # flux1-dev is not among the default models, nor are
        "2": ["value_not_in_list", "value_not_in_list"],  # clip_l and t5xxl,
        "3": ["value_not_in_list"],  # nor ae.safetensors
        "5": ["required_input_missing"],
        "10": ["return_type_mismatch", "value_smaller_than_min"],
    }
    by_type = {e["type"]: e for e in rejected.node_errors["10"]["errors"]}
    assert by_type["return_type_mismatch"]["details"] == (
        "model, received_type(LATENT) mismatch input_type(MODEL)"
    )
    assert by_type["value_smaller_than_min"]["message"] == "Value 0 smaller than min of 1"
    assert rejected.node_errors["5"]["errors"] == [
        {
            "type": "required_input_missing",
            "message": "Required input is missing",
            "details": "guidance",
            "extra_info": {"input_name": "guidance"},
        }
    ]
    assert isinstance(rejected, ComfyMissingModel)
    assert {(m.node_id, m.input_name, m.name) for m in rejected.models} == {
        ("1", "unet_name", "flux1-dev.safetensors"),
        ("2", "clip_name1", "clip_l.safetensors"),
        ("2", "clip_name2", "t5xxl_fp8_e4m3fn.safetensors"),
        ("3", "vae_name", "ae.safetensors"),
    }


def upscale_graph(model: str) -> dict[str, Any]:
    return {
        "1": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": model}},
        "2": {
            "class_type": "EmptyImage",
            "inputs": {"width": 40, "height": 24, "batch_size": 1, "color": 0x3366CC},
        },
        "3": {
            "class_type": "ImageUpscaleWithModel",
            "inputs": {"upscale_model": ["1", 0], "image": ["2", 0]},
        },
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "up"}},
    }


def test_v3_combos_are_checked_when_the_node_runs(emulator_factory, tmp_path: Path) -> None:
    """0.3.64 validates only V1 list combos: UpscaleModelLoader's (V3) missing model is accepted
    and fails at run time the way folder_paths.get_full_path_or_raise fails."""
    models = default_models()
    models["upscale_models"] = ["4x-UltraSharp.pth", "RealESRGAN_x2plus.pth"]
    sim = emulator_factory(models=models)

    async def go() -> tuple[ComfyExecutionError, list[tuple[int, int]]]:
        sizes = []
        async with ComfyClient(sim.url, timeouts=FAST) as client:
            submitted = await client.submit(upscale_graph("nope.pth"))
            with pytest.raises(ComfyExecutionError) as failed:
                await client.wait(submitted.prompt_id)
            for model in models["upscale_models"]:
                outcome = await client.wait((await client.submit(upscale_graph(model))).prompt_id)
                dest = tmp_path / model
                await client.download(outcome.outputs[0], dest)
                with Image.open(dest) as image:
                    sizes.append(image.size)
        return failed.value, sizes

    failure, sizes = asyncio.run(go())
    assert (failure.node_id, failure.node_type) == ("1", "UpscaleModelLoader")
    assert failure.exception_type == "FileNotFoundError"
    assert failure.exception_message == (
        "Model in folder 'upscale_models' with filename 'nope.pth' not found."
    )
    assert sizes == [(160, 96), (80, 48)]  # the model's factor, read from its name
