"""`/object_info` for the custom nodes the emulator adds to the real catalogue.

ComfyUI_IPAdapter_plus's two nodes (IPAdapterUnifiedLoader, IPAdapterAdvanced), written from its
source and serialised like ComfyUI 0.3.64's `server.node_info` serialises a V1 class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

IPADAPTER_PRESETS: list[str] = [
    "LIGHT - SD1.5 only (low strength)",
    "STANDARD (medium strength)",
    "VIT-G (medium strength)",
    "PLUS (high strength)",
    "PLUS FACE (portraits)",
    "FULL FACE - SD1.5 only (portraits stronger)",
]
IPADAPTER_WEIGHT_TYPES: list[str] = [
    "linear",
    "ease in",
    "ease out",
    "ease in-out",
    "reverse in-out",
    "weak input",
    "weak output",
    "weak middle",
    "strong middle",
    "style transfer",
    "composition",
    "strong style transfer",
    "style and composition",
    "style transfer precise",
    "composition precise",
]

Spec = list[Any]  # one input: [type] or [type, options]


def _v1(
    name: str,
    *,
    required: dict[str, Spec],
    output: list[str],
    category: str,
    optional: dict[str, Spec] | None = None,
    output_name: list[str] | None = None,
    display_name: str | None = None,
    description: str = "",
    python_module: str = "nodes",
    output_node: bool = False,
    output_tooltips: list[str] | None = None,
) -> dict[str, Any]:
    inputs: dict[str, Any] = {"required": required}
    if optional:
        inputs["optional"] = optional
    info: dict[str, Any] = {
        "input": inputs,
        "input_order": {key: list(value) for key, value in inputs.items()},
        "output": output,
        "output_is_list": [False] * len(output),
        "output_name": output_name or list(output),
        "name": name,
        "display_name": display_name or name,
        "description": description,
        "python_module": python_module,
        "category": category,
        "output_node": output_node,
    }
    if output_tooltips is not None:
        info["output_tooltips"] = output_tooltips
    return info


def _combo(options: list[str], **extra: Any) -> Spec:
    return [options, extra] if extra else [options]


def extra_object_info(models: Callable[[str], list[str]]) -> dict[str, dict[str, Any]]:
    """Every added class, with model combos listing `models(folder)`."""
    ipa = "custom_nodes.ComfyUI_IPAdapter_plus"
    return {
        "IPAdapterUnifiedLoader": _v1(
            "IPAdapterUnifiedLoader",
            required={"model": ["MODEL"], "preset": _combo(IPADAPTER_PRESETS)},
            optional={"ipadapter": ["IPADAPTER"]},
            output=["MODEL", "IPADAPTER"],
            output_name=["model", "ipadapter"],
            display_name="IPAdapter Unified Loader",
            python_module=ipa,
            category="ipadapter",
        ),
        "IPAdapterAdvanced": _v1(
            "IPAdapterAdvanced",
            required={
                "model": ["MODEL"],
                "ipadapter": ["IPADAPTER"],
                "image": ["IMAGE"],
                "weight": ["FLOAT", {"default": 1.0, "min": -1, "max": 5, "step": 0.05}],
                "weight_type": _combo(IPADAPTER_WEIGHT_TYPES),
                "combine_embeds": _combo(["concat", "add", "subtract", "average", "norm average"]),
                "start_at": ["FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001}],
                "end_at": ["FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.001}],
                "embeds_scaling": _combo(
                    ["V only", "K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty"]
                ),
            },
            optional={
                "image_negative": ["IMAGE"],
                "attn_mask": ["MASK"],
                "clip_vision": ["CLIP_VISION"],
            },
            output=["MODEL"],
            display_name="IPAdapter Advanced",
            python_module=ipa,
            category="ipadapter",
        ),
    }
