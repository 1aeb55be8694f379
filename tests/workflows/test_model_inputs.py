"""The one table of loader inputs and model folders, against a real server's capture."""

import json

from nightrun_dagster.emulator.catalogue import CLASS_ORDER_FILE, FULL_CATALOGUE
from nightrun_dagster.workflows.model_inputs import (
    MODEL_FOLDERS,
    MODEL_INPUTS,
    checked_folders,
    folder_names,
    model_folder,
)


def test_an_input_name_means_a_folder_only_with_its_class() -> None:
    assert model_folder("CLIPLoader", "clip_name") == "text_encoders"
    assert model_folder("CLIPVisionLoader", "clip_name") == "clip_vision"
    assert model_folder("UpscaleModelLoader", "model_name") == "upscale_models"
    # An API node's `model_name` picks a remote model, not a file.
    assert model_folder("KlingImageGenerationNode", "model_name") is None
    # Unambiguous names count on loader classes the table does not list.
    assert model_folder("SomeCustomLoraStack", "lora_name") == "loras"
    assert model_folder("KSampler", "sampler_name") is None


def test_every_listed_input_of_a_captured_class_is_a_combo_there() -> None:
    full = json.loads(FULL_CATALOGUE.read_text())
    captured = set(json.loads(CLASS_ORDER_FILE.read_text())["classes"])
    for class_type, name in MODEL_INPUTS:
        if class_type not in captured:
            continue
        inputs = full[class_type]["input"]
        spec = {**inputs.get("required", {}), **inputs.get("optional", {})}[name]
        assert isinstance(spec[0], list) or spec[0] == "COMBO", (class_type, name)


def test_checked_folders_are_what_a_server_lists_plus_legacy_names() -> None:
    assert folder_names("diffusion_models") == ("diffusion_models", "unet")
    assert folder_names("loras") == ("loras",)
    folders = checked_folders()
    assert {"clip", "unet"} <= set(folders)
    # Every folder a captured loader names is one the real server answers /models with.
    assert set(folders) - {"clip", "unet"} - set(MODEL_FOLDERS) == {"latent_upscale_models"}
