"""The node classes the emulator knows, as `/object_info` serves them for its current models."""

from __future__ import annotations

import copy
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nightrun_dagster.comfy.emulator.object_info_captured import CAPTURED
from nightrun_dagster.comfy.emulator.object_info_extra import extra_object_info

# NODE_CLASS_MAPPINGS order: nodes.py first, then comfy_extras, then custom nodes.
CLASS_ORDER: tuple[str, ...] = (
    "KSampler",
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "VAEDecode",
    "VAEEncode",
    "VAELoader",
    "EmptyLatentImage",
    "SaveImage",
    "PreviewImage",
    "LoadImage",
    "ImageScale",
    "ImageInvert",
    "EmptyImage",
    "LoraLoader",
    "CLIPLoader",
    "ControlNetLoader",
    "ControlNetApplyAdvanced",
    "UNETLoader",
    "ImageBlur",
    "Canny",
    "ModelSamplingSD3",
    "EmptyHunyuanLatentVideo",
    "CreateVideo",
    "SaveVideo",
    "PrimitiveString",
    "StringConcatenate",
    "PreviewAny",
    "IPAdapterUnifiedLoader",
    "IPAdapterAdvanced",
    "SaveImageWebsocket",
)

# Nodes whose VALIDATE_INPUTS takes these inputs: ComfyUI skips their combo check and calls it.
CUSTOM_VALIDATION: dict[str, tuple[str, ...]] = {"LoadImage": ("image",)}


def input_images(input_dir: Path) -> list[str]:
    """LoadImage's combo: image files directly in the input folder, sorted."""
    if not input_dir.is_dir():
        return []
    names = []
    for path in input_dir.iterdir():
        kind = mimetypes.guess_type(path.name)[0] or ""
        if path.is_file() and kind.startswith("image/"):
            names.append(path.name)
    return sorted(names)


def build_object_info(
    models: Callable[[str], list[str]], input_dir: Path
) -> dict[str, dict[str, Any]]:
    """Every class, in ComfyUI's order, with combos listing what this server has."""
    captured = copy.deepcopy(CAPTURED)
    captured["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = models("checkpoints")
    captured["LoadImage"]["input"]["required"]["image"][0] = input_images(input_dir)
    every = {**captured, **extra_object_info(models)}
    return {name: every[name] for name in CLASS_ORDER}


KNOWN_CLASSES: frozenset[str] = frozenset(CLASS_ORDER)
