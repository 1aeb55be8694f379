"""Which loader inputs name model files, and the ComfyUI model folder (`GET /models/<folder>`)
each one lists: the one table the client, the checks, the warm-up and the emulator share."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# (class_type, input) -> the models folder the value must be in.
MODEL_INPUTS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
        ("CheckpointLoader", "ckpt_name"): "checkpoints",
        ("CheckpointLoader", "config_name"): "configs",
        ("ImageOnlyCheckpointLoader", "ckpt_name"): "checkpoints",
        ("unCLIPCheckpointLoader", "ckpt_name"): "checkpoints",
        ("CreateHookModelAsLora", "ckpt_name"): "checkpoints",
        ("CreateHookModelAsLoraModelOnly", "ckpt_name"): "checkpoints",
        ("LoraLoader", "lora_name"): "loras",
        ("LoraLoaderModelOnly", "lora_name"): "loras",
        ("CreateHookLora", "lora_name"): "loras",
        ("CreateHookLoraModelOnly", "lora_name"): "loras",
        ("ControlNetLoader", "control_net_name"): "controlnet",
        ("DiffControlNetLoader", "control_net_name"): "controlnet",
        ("VAELoader", "vae_name"): "vae",
        ("CLIPLoader", "clip_name"): "text_encoders",
        ("DualCLIPLoader", "clip_name1"): "text_encoders",
        ("DualCLIPLoader", "clip_name2"): "text_encoders",
        ("TripleCLIPLoader", "clip_name1"): "text_encoders",
        ("TripleCLIPLoader", "clip_name2"): "text_encoders",
        ("TripleCLIPLoader", "clip_name3"): "text_encoders",
        ("QuadrupleCLIPLoader", "clip_name1"): "text_encoders",
        ("QuadrupleCLIPLoader", "clip_name2"): "text_encoders",
        ("QuadrupleCLIPLoader", "clip_name3"): "text_encoders",
        ("QuadrupleCLIPLoader", "clip_name4"): "text_encoders",
        ("UNETLoader", "unet_name"): "diffusion_models",
        ("CLIPVisionLoader", "clip_name"): "clip_vision",
        ("UpscaleModelLoader", "model_name"): "upscale_models",
        ("StyleModelLoader", "style_model_name"): "style_models",
        ("IPAdapterModelLoader", "ipadapter_file"): "ipadapter",
        ("ModelPatchLoader", "name"): "model_patches",
        ("GLIGENLoader", "gligen_name"): "gligen",
        ("HypernetworkLoader", "hypernetwork_name"): "hypernetworks",
        ("PhotoMakerLoader", "photomaker_model_name"): "photomaker",
        ("DiffusersLoader", "model_path"): "diffusers",
        ("AudioEncoderLoader", "audio_encoder_name"): "audio_encoders",
        ("LatentUpscaleModelLoader", "model_name"): "latent_upscale_models",
    }
)
# Loader classes we do not list by name still use these input names for model files (names
# that mean one folder whatever the class: `clip_name` or `model_name` do not).
MODEL_INPUT_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "ckpt_name": "checkpoints",
        "lora_name": "loras",
        "control_net_name": "controlnet",
        "vae_name": "vae",
        "unet_name": "diffusion_models",
        "ipadapter_file": "ipadapter",
        "style_model_name": "style_models",
        "gligen_name": "gligen",
        "hypernetwork_name": "hypernetworks",
    }
)
# Legacy folder names ComfyUI maps onto the current ones (folder_paths.map_legacy): it answers
# /models with the current names but still accepts the legacy ones.
LEGACY_FOLDERS: Mapping[str, str] = MappingProxyType(
    {"unet": "diffusion_models", "clip": "text_encoders"}
)
# `GET /models` of a real 0.3.64 server (captured), plus the folder ComfyUI_IPAdapter_plus adds.
MODEL_FOLDERS: tuple[str, ...] = (
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "custom_nodes",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
    "ipadapter",
)


def model_folder(class_type: str, input_name: str) -> str | None:
    """The folder a loader input takes its model file from; None: not a model input."""
    return MODEL_INPUTS.get((class_type, input_name)) or MODEL_INPUT_NAMES.get(input_name)


def folder_names(folder: str) -> tuple[str, ...]:
    """`folder` and the legacy names a server may list its files under."""
    return (folder, *(old for old, new in LEGACY_FOLDERS.items() if new == folder))


def checked_folders() -> tuple[str, ...]:
    """Every folder a model input names, legacy names included, in first-use order: what a
    graph is checked against."""
    named = dict.fromkeys([*MODEL_INPUTS.values(), *MODEL_INPUT_NAMES.values()])
    return tuple(name for folder in named for name in folder_names(folder))
