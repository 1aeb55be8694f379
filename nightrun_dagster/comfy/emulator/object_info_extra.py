"""`/object_info` for the node classes we were not able to capture, written from ComfyUI's source.

Inputs, ranges, outputs, categories and modules follow ComfyUI 0.3.64 (`nodes.py`,
`comfy_extras/`), ComfyUI_IPAdapter_plus for the two IP-Adapter nodes. V1 nodes serialise like
`server.node_info`; V3 nodes (`comfy_api` schema) like `NodeInfoV1`, with their extra keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nightrun_dagster.workflows.samplers import SAMPLER_NAMES, SCHEDULER_NAMES

MAX_RESOLUTION = 16384

# One list for the client side and the emulator: ComfyUI 0.3.6x's KSampler choices.
SAMPLERS: list[str] = list(SAMPLER_NAMES)
SCHEDULERS: list[str] = list(SCHEDULER_NAMES)
CLIP_TYPES: list[str] = [
    "stable_diffusion",
    "stable_cascade",
    "sd3",
    "stable_audio",
    "mochi",
    "ltxv",
    "pixart",
    "cosmos",
    "lumina2",
    "wan",
    "hidream",
    "chroma",
    "ace",
    "omnigen2",
    "qwen_image",
    "hunyuan_image",
]
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


def _v3(
    name: str,
    *,
    required: dict[str, Spec],
    output: list[str],
    category: str,
    display_name: str | None,
    description: str,
    python_module: str,
    optional: dict[str, Spec] | None = None,
    hidden: list[tuple[str, str]] | None = None,
    output_node: bool = False,
) -> dict[str, Any]:
    inputs: dict[str, Any] = {"required": required}
    if optional:
        inputs["optional"] = optional
    if hidden:
        # V3 serialises hidden inputs as one-element lists, V1 as bare strings.
        inputs["hidden"] = {key: [value] for key, value in hidden}
    return {
        "input": inputs,
        "input_order": {key: list(value) for key, value in inputs.items()},
        "output": output,
        "output_is_list": [False] * len(output),
        "output_name": list(output),
        "output_tooltips": [None] * len(output),
        "name": name,
        "display_name": display_name,
        "description": description,
        "python_module": python_module,
        "category": category,
        "output_node": output_node,
        "deprecated": False,
        "experimental": False,
        "api_node": False,
    }


def _combo(options: list[str], **extra: Any) -> Spec:
    return [options, extra] if extra else [options]


def extra_object_info(models: Callable[[str], list[str]]) -> dict[str, dict[str, Any]]:
    """Every authored class, with model combos listing `models(folder)`."""
    ipa = "custom_nodes.ComfyUI_IPAdapter_plus"
    return {
        "CLIPTextEncode": _v1(
            "CLIPTextEncode",
            required={
                "text": [
                    "STRING",
                    {
                        "multiline": True,
                        "dynamicPrompts": True,
                        "tooltip": "The text to be encoded.",
                    },
                ],
                "clip": ["CLIP", {"tooltip": "The CLIP model used for encoding the text."}],
            },
            output=["CONDITIONING"],
            display_name="CLIP Text Encode (Prompt)",
            description=(
                "Encodes a text prompt using a CLIP model into an embedding that can be used to "
                "guide the diffusion model towards generating specific images."
            ),
            category="conditioning",
            output_tooltips=[
                "A conditioning containing the embedded text used to guide the diffusion model."
            ],
        ),
        "EmptyLatentImage": _v1(
            "EmptyLatentImage",
            required={
                "width": [
                    "INT",
                    {
                        "default": 512,
                        "min": 16,
                        "max": MAX_RESOLUTION,
                        "step": 8,
                        "tooltip": "The width of the latent images in pixels.",
                    },
                ],
                "height": [
                    "INT",
                    {
                        "default": 512,
                        "min": 16,
                        "max": MAX_RESOLUTION,
                        "step": 8,
                        "tooltip": "The height of the latent images in pixels.",
                    },
                ],
                "batch_size": [
                    "INT",
                    {
                        "default": 1,
                        "min": 1,
                        "max": 4096,
                        "tooltip": "The number of latent images in the batch.",
                    },
                ],
            },
            output=["LATENT"],
            display_name="Empty Latent Image",
            description="Create a new batch of empty latent images to be denoised via sampling.",
            category="latent",
            output_tooltips=["The empty latent image batch."],
        ),
        "KSampler": _v1(
            "KSampler",
            required={
                "model": ["MODEL", {"tooltip": "The model used for denoising the input latent."}],
                "seed": [
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": 0xFFFFFFFFFFFFFFFF,
                        "control_after_generate": True,
                        "tooltip": "The random seed used for creating the noise.",
                    },
                ],
                "steps": [
                    "INT",
                    {
                        "default": 20,
                        "min": 1,
                        "max": 10000,
                        "tooltip": "The number of steps used in the denoising process.",
                    },
                ],
                "cfg": [
                    "FLOAT",
                    {
                        "default": 8.0,
                        "min": 0.0,
                        "max": 100.0,
                        "step": 0.1,
                        "round": 0.01,
                        "tooltip": (
                            "The Classifier-Free Guidance scale balances creativity and adherence "
                            "to the prompt. Higher values result in images more closely matching "
                            "the prompt however too high values will negatively impact quality."
                        ),
                    },
                ],
                "sampler_name": [
                    SAMPLERS,
                    {
                        "tooltip": (
                            "The algorithm used when sampling, this can affect the quality, "
                            "speed, and style of the generated output."
                        )
                    },
                ],
                "scheduler": [
                    SCHEDULERS,
                    {
                        "tooltip": (
                            "The scheduler controls how noise is gradually removed to form the "
                            "image."
                        )
                    },
                ],
                "positive": [
                    "CONDITIONING",
                    {
                        "tooltip": (
                            "The conditioning describing the attributes you want to include in "
                            "the image."
                        )
                    },
                ],
                "negative": [
                    "CONDITIONING",
                    {
                        "tooltip": (
                            "The conditioning describing the attributes you want to exclude from "
                            "the image."
                        )
                    },
                ],
                "latent_image": ["LATENT", {"tooltip": "The latent image to denoise."}],
                "denoise": [
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": 0.0,
                        "max": 1.0,
                        "step": 0.01,
                        "tooltip": (
                            "The amount of denoising applied, lower values will maintain the "
                            "structure of the initial image allowing for image to image sampling."
                        ),
                    },
                ],
            },
            output=["LATENT"],
            description=(
                "Uses the provided model, positive and negative conditioning to denoise the "
                "latent image."
            ),
            category="sampling",
            output_tooltips=["The denoised latent."],
        ),
        "VAEDecode": _v1(
            "VAEDecode",
            required={
                "samples": ["LATENT", {"tooltip": "The latent to be decoded."}],
                "vae": ["VAE", {"tooltip": "The VAE model used for decoding the latent."}],
            },
            output=["IMAGE"],
            display_name="VAE Decode",
            description="Decodes latent images back into pixel space images.",
            category="latent",
            output_tooltips=["The decoded image."],
        ),
        "VAEEncode": _v1(
            "VAEEncode",
            required={"pixels": ["IMAGE"], "vae": ["VAE"]},
            output=["LATENT"],
            display_name="VAE Encode",
            category="latent",
        ),
        "LoraLoader": _v1(
            "LoraLoader",
            required={
                "model": [
                    "MODEL",
                    {"tooltip": "The diffusion model the LoRA will be applied to."},
                ],
                "clip": ["CLIP", {"tooltip": "The CLIP model the LoRA will be applied to."}],
                "lora_name": _combo(models("loras"), tooltip="The name of the LoRA."),
                "strength_model": [
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": -100.0,
                        "max": 100.0,
                        "step": 0.01,
                        "tooltip": (
                            "How strongly to modify the diffusion model. This value can be "
                            "negative."
                        ),
                    },
                ],
                "strength_clip": [
                    "FLOAT",
                    {
                        "default": 1.0,
                        "min": -100.0,
                        "max": 100.0,
                        "step": 0.01,
                        "tooltip": (
                            "How strongly to modify the CLIP model. This value can be negative."
                        ),
                    },
                ],
            },
            output=["MODEL", "CLIP"],
            display_name="Load LoRA",
            description=(
                "LoRAs are used to modify diffusion and CLIP models, altering the way in which "
                "latents are denoised such as applying styles. Multiple LoRA nodes can be "
                "chained together."
            ),
            category="loaders",
            output_tooltips=["The modified diffusion model.", "The modified CLIP model."],
        ),
        "ControlNetLoader": _v1(
            "ControlNetLoader",
            required={"control_net_name": _combo(models("controlnet"))},
            output=["CONTROL_NET"],
            display_name="Load ControlNet Model",
            category="loaders",
        ),
        "ControlNetApplyAdvanced": _v1(
            "ControlNetApplyAdvanced",
            required={
                "positive": ["CONDITIONING"],
                "negative": ["CONDITIONING"],
                "control_net": ["CONTROL_NET"],
                "image": ["IMAGE"],
                "strength": ["FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01}],
                "start_percent": [
                    "FLOAT",
                    {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001},
                ],
                "end_percent": ["FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.001}],
            },
            optional={"vae": ["VAE"]},
            output=["CONDITIONING", "CONDITIONING"],
            output_name=["positive", "negative"],
            display_name="Apply ControlNet",
            category="conditioning/controlnet",
        ),
        "Canny": _v1(
            "Canny",
            required={
                "image": ["IMAGE"],
                "low_threshold": [
                    "FLOAT",
                    {"default": 0.4, "min": 0.01, "max": 0.99, "step": 0.01},
                ],
                "high_threshold": [
                    "FLOAT",
                    {"default": 0.8, "min": 0.01, "max": 0.99, "step": 0.01},
                ],
            },
            output=["IMAGE"],
            python_module="comfy_extras.nodes_canny",
            category="image/preprocessors",
        ),
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
        "UNETLoader": _v1(
            "UNETLoader",
            required={
                "unet_name": _combo(models("diffusion_models")),
                "weight_dtype": _combo(["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]),
            },
            output=["MODEL"],
            display_name="Load Diffusion Model",
            category="advanced/loaders",
        ),
        "CLIPLoader": _v1(
            "CLIPLoader",
            required={
                "clip_name": _combo(models("text_encoders")),
                "type": _combo(CLIP_TYPES),
            },
            optional={"device": _combo(["default", "cpu"], advanced=True)},
            output=["CLIP"],
            display_name="Load CLIP",
            description=(
                "[Recipes]\n\nstable_diffusion: clip-l\nstable_cascade: clip-g\nsd3: t5 xxl/ "
                "clip-g / clip-l\nstable_audio: t5 base\nmochi: t5 xxl\ncosmos: old t5 xxl\n"
                "lumina2: gemma 2 2B\nwan: umt5 xxl\n hidream: llama-3.1 (Recommend) or t5\n"
                "omnigen2: qwen vl 2.5 3B"
            ),
            category="advanced/loaders",
        ),
        "VAELoader": _v1(
            "VAELoader",
            required={"vae_name": _combo(models("vae"))},
            output=["VAE"],
            display_name="Load VAE",
            category="loaders",
        ),
        "ModelSamplingSD3": _v1(
            "ModelSamplingSD3",
            required={
                "model": ["MODEL"],
                "shift": ["FLOAT", {"default": 3.0, "min": 0.0, "max": 100.0, "step": 0.01}],
            },
            output=["MODEL"],
            python_module="comfy_extras.nodes_model_advanced",
            category="advanced/model",
        ),
        "EmptyHunyuanLatentVideo": _v1(
            "EmptyHunyuanLatentVideo",
            required={
                "width": ["INT", {"default": 848, "min": 16, "max": MAX_RESOLUTION, "step": 16}],
                "height": ["INT", {"default": 480, "min": 16, "max": MAX_RESOLUTION, "step": 16}],
                "length": ["INT", {"default": 25, "min": 1, "max": MAX_RESOLUTION, "step": 4}],
                "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
            },
            output=["LATENT"],
            python_module="comfy_extras.nodes_hunyuan",
            category="latent/video",
        ),
        "CreateVideo": _v3(
            "CreateVideo",
            required={
                "images": ["IMAGE", {"tooltip": "The images to create a video from."}],
                "fps": ["FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0}],
            },
            optional={"audio": ["AUDIO", {"tooltip": "The audio to add to the video."}]},
            output=["VIDEO"],
            display_name="Create Video",
            description="Create a video from images.",
            python_module="comfy_extras.nodes_video",
            category="image/video",
        ),
        "SaveVideo": _v3(
            "SaveVideo",
            required={
                "video": ["VIDEO", {"tooltip": "The video to save."}],
                "filename_prefix": [
                    "STRING",
                    {
                        "tooltip": (
                            "The prefix for the file to save. This may include formatting "
                            "information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% "
                            "to include values from nodes."
                        ),
                        "default": "video/ComfyUI",
                    },
                ],
                "format": [
                    "COMBO",
                    {
                        "tooltip": "The format to save the video as.",
                        "default": "auto",
                        "multiselect": False,
                        "options": ["auto", "mp4"],
                    },
                ],
                "codec": [
                    "COMBO",
                    {
                        "tooltip": "The codec to use for the video.",
                        "default": "auto",
                        "multiselect": False,
                        "options": ["auto", "h264"],
                    },
                ],
            },
            hidden=[("prompt", "PROMPT"), ("extra_pnginfo", "EXTRA_PNGINFO")],
            output=[],
            display_name="Save Video",
            description="Saves the input images to your ComfyUI output directory.",
            python_module="comfy_extras.nodes_video",
            category="image/video",
            output_node=True,
        ),
    }
