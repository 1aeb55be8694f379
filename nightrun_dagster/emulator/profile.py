"""Render times like a real GPU's: how long a graph takes, from what drives a sampler's cost
(pixels × steps × frames, LoRAs, ControlNet) and its model family, anchored on an RTX 3080."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nightrun_dagster.emulator.graph import is_link


class Profile(StrEnum):
    RTX3080 = "rtx3080"


@dataclass(frozen=True)
class Family:
    """A model family: seconds per pixel × step × frame, and how it is recognised."""

    name: str
    needle: str  # in a checkpoint or UNet file name (lower case); "" matches anything
    seconds_per_work: float


# An RTX 3080 10 GB: SDXL at 1024×1280, 28 steps in 25 s; Wan 2.1 1.3B at 832×480, 49 frames,
# 30 steps in 240 s; SD 1.5 about 2.5 times faster per pixel-step than SDXL.
_SDXL = 25.0 / (1024 * 1280 * 28)
FAMILIES: dict[Profile, tuple[Family, ...]] = {
    Profile.RTX3080: (
        Family("wan", "wan", 240.0 / (832 * 480 * 30 * 49)),
        Family("sdxl", "xl", _SDXL),
        Family("sd15", "", _SDXL / 2.5),
    )
}
LORA_FACTOR = 0.05  # each LoRA loader adds 5 % to the sampling
CONTROLNET_FACTOR = 1.4  # a ControlNet pass: the UI-anchored template's 35 s against SDXL's 25 s
MIN_SECONDS = 0.5  # a graph without a sampler (load, invert, save) still takes a moment
MODEL_INPUTS = ("ckpt_name", "unet_name")


def _scalars(prompt: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            str(node.get("class_type", "")),
            {k: v for k, v in node.get("inputs", {}).items() if not is_link(v)},
        )
        for node in prompt.values()
        if isinstance(node, Mapping)
    ]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def render_seconds(prompt: Mapping[str, Any], profile: Profile) -> float:
    """Seconds the graph takes on the profile's GPU: every sampler's steps over the largest
    image (or video latent) in the graph, at its model family's rate."""
    nodes = _scalars(prompt)
    pixels = frames = 0.0
    steps = 0.0
    models: list[str] = []
    loras = controlnet = 0
    for class_type, inputs in nodes:
        width, height = _number(inputs.get("width")), _number(inputs.get("height"))
        if width and height:
            pixels = max(pixels, width * height * (_number(inputs.get("batch_size")) or 1.0))
        if (length := _number(inputs.get("length"))) is not None:
            frames = max(frames, length)
        if "steps" in inputs and (n := _number(inputs["steps"])):
            steps += n
        models += [str(inputs[k]).lower() for k in MODEL_INPUTS if k in inputs]
        loras += class_type.startswith("LoraLoader")
        controlnet += "ControlNetApply" in class_type
    if not steps or not pixels:
        return MIN_SECONDS
    family = next(
        f for f in FAMILIES[profile] if not f.needle or any(f.needle in m for m in models)
    )
    seconds = family.seconds_per_work * pixels * steps * max(frames, 1.0)
    seconds *= 1 + LORA_FACTOR * loras
    if controlnet:
        seconds *= CONTROLNET_FACTOR
    return max(seconds, MIN_SECONDS)
