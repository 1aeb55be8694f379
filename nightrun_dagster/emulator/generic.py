"""Every catalogue class without a hand-written implementation, run from its `/object_info` schema.

Each output is made from its type and name, out of the node's inputs:

* a sampler (LATENT in and out, and a GUIDER, or a MODEL and CONDITIONING) samples like KSampler:
  seed from `seed` / `noise_seed` / the NOISE input, steps from `steps` (less `start_at_step`,
  capped at `end_at_step`) or the SIGMAS input, cfg from `cfg` or the GUIDER, sampler and scheduler
  from their combos or the SAMPLER / SIGMAS inputs;
* CONDITIONING carries its prompt text: the conditioning input of the same name (`positive`,
  `negative`), else the one in the same position, else every conditioning input joined, plus the
  node's own text widgets when it encodes with a CLIP; a CONTROL_NET input adds its control;
* LATENT: the LATENT input resized (`scale_by`, `width`/`height`, `amount`, `batch_index`/`length`),
  else a new one of `width` × `height` × `batch_size` (× `length` or `video_frames` frames), else
  the IMAGE input's pixels as an img2img base;
* IMAGE: the IMAGE input resized (an upscale model's factor, `scale_by`, `megapixels`,
  `width`/`height`, crops), else the LATENT input decoded, else the VIDEO's frames;
* MODEL / CLIP / VAE / CONTROL_NET: the input of that type (a LoRA file input adds its LoRA), else
  a fresh one named after the model file the node loads; NOISE, GUIDER, SAMPLER, SIGMAS: what the
  custom sampler needs; MASK, VIDEO: from the image input;
* INT / FLOAT / STRING / BOOLEAN: the input of the output's name, the attribute of that name of an
  input (an image's width), the first input of that type, or zero;
* anything else: the input of the same type, else an opaque placeholder of that type.

An output node without its own implementation saves its IMAGE (or MASK) input as PNGs like
SaveImage, or like PreviewImage when its name says Preview, and reports them under `images`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np

from nightrun_dagster.emulator.catalogue import model_inputs, vae_list
from nightrun_dagster.emulator.context import NodeContext
from nightrun_dagster.emulator.errors import NodeFailure
from nightrun_dagster.emulator.nodes import Result, scale, write_images
from nightrun_dagster.emulator.sampling import SamplerCall, decoded, run_sampler
from nightrun_dagster.emulator.values import (
    ClipRef,
    Conditioning,
    Control,
    ControlNetRef,
    Guider,
    Images,
    Latent,
    ModelRef,
    Noise,
    Opaque,
    SamplerRef,
    Sampling,
    Sigmas,
    VaeRef,
    Video,
)

SCALARS: dict[str, Any] = {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}
_CAST = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}
# An output name that is an attribute of a value under another name.
_ATTRIBUTES = {"batch_size": "batch", "length": "frames"}
_UPSCALE_FACTOR = re.compile(r"(?i)(?<![0-9])([1-8])x|x([1-8])(?![0-9])")
_GREY = np.array([124, 118, 108], np.uint8)
# What a LoRA loader patches: the model, the text encoder.
_Patched = TypeVar("_Patched", ModelRef, ClipRef)


@dataclass(frozen=True)
class Schema:
    """What the generic execution reads from a class's `/object_info` entry."""

    class_type: str
    types: dict[str, str]  # declared input -> type ("COMBO" for a V1 list combo)
    outputs: tuple[str, ...]
    names: tuple[str, ...]
    output_node: bool

    @classmethod
    def of(cls, class_type: str, info: dict[str, Any]) -> Schema:
        types: dict[str, str] = {}
        for section in ("required", "optional"):
            for name, spec in info.get("input", {}).get(section, {}).items():
                kind = spec[0] if isinstance(spec, list | tuple) and spec else "*"
                types[name] = kind if isinstance(kind, str) else "COMBO"
        outputs = tuple(o if isinstance(o, str) else "COMBO" for o in info.get("output", []))
        names = tuple(info.get("output_name") or outputs)
        return cls(class_type, types, outputs, names, info.get("output_node") is True)

    def values(self, inputs: dict[str, Any], kind: str) -> list[tuple[str, Any]]:
        """(name, value) of the given inputs of one type, in declared order."""
        return [
            (name, inputs[name])
            for name, t in self.types.items()
            if name in inputs and inputs[name] is not None and kind in t.split(",")
        ]

    def first(self, inputs: dict[str, Any], kind: str) -> Any:
        found = self.values(inputs, kind)
        return found[0][1] if found else None

    def has(self, kind: str) -> bool:
        return any(kind in t.split(",") for t in self.types.values())

    def number(self, inputs: dict[str, Any], name: str) -> float | None:
        """A widget's number, if the class declares it as INT or FLOAT and it was given."""
        if self.types.get(name) in {"INT", "FLOAT"} and name in inputs:
            return float(inputs[name])
        return None


def is_sampler(info: dict[str, Any]) -> bool:
    """Shaped like a sampler: LATENT in and out, guided by a GUIDER or a MODEL with prompts."""
    schema = Schema.of(str(info.get("name", "")), info)
    return (
        "LATENT" in schema.outputs
        and schema.has("LATENT")
        and (schema.has("GUIDER") or (schema.has("MODEL") and schema.has("CONDITIONING")))
    )


# ---------------------------------------------------------------- the node
async def run_generic(ctx: NodeContext, **inputs: Any) -> Result:
    schema = Schema.of(ctx.class_type, ctx.info)
    _check_model_files(ctx, inputs)
    sampled: Latent | None = None
    if is_sampler(ctx.info):
        sampled = await run_sampler(
            ctx, sampler_call(schema, inputs), schema.first(inputs, "LATENT")
        )
    outputs = []
    for index, kind in enumerate(schema.outputs):
        if sampled is not None and kind == "LATENT":
            outputs.append(sampled)
        else:
            outputs.append(await _output(ctx, schema, inputs, index))
    ui = await _save(ctx, schema, inputs) if schema.output_node else None
    return tuple(outputs), ui


def sampler_call(schema: Schema, inputs: dict[str, Any]) -> SamplerCall:
    """A sampler node's settings, from its widgets or from the custom-sampling inputs."""
    noise = schema.first(inputs, "NOISE")
    guider = schema.first(inputs, "GUIDER")
    sigmas = schema.first(inputs, "SIGMAS")
    sampler = schema.first(inputs, "SAMPLER")
    if isinstance(noise, Noise):
        seed, add_noise = noise.seed or 0, noise.seed is not None
    else:
        seed = int(inputs.get("noise_seed", inputs.get("seed", 0)))
        add_noise = inputs.get("add_noise", True) not in {False, "disable"}
    if isinstance(guider, Guider):
        model, positive, negative, cfg = guider.model, guider.positive, guider.negative, guider.cfg
    else:
        model = schema.first(inputs, "MODEL")
        positive = inputs.get("positive") or schema.first(inputs, "CONDITIONING")
        negative = inputs.get("negative") or Conditioning("")
        cfg = float(inputs.get("cfg", 1.0))
    if isinstance(sigmas, Sigmas):
        steps, scheduler, denoise = sigmas.steps, sigmas.scheduler, sigmas.denoise
    else:
        steps = int(inputs.get("steps", 20))
        scheduler = str(inputs.get("scheduler", "normal"))
        denoise = float(inputs.get("denoise", 1.0))
    start = int(inputs.get("start_at_step", 0))
    end = int(inputs.get("end_at_step", 10000))
    if start > 0 and steps > 0 and "denoise" not in inputs:
        denoise = max(0.0, (steps - start) / steps)  # KSamplerAdvanced's img2img
    name = sampler.name if isinstance(sampler, SamplerRef) else inputs.get("sampler_name", "euler")
    settings = Sampling(
        seed=seed,
        steps=max(0, min(end, steps) - start),
        cfg=cfg,
        sampler=str(name),
        scheduler=scheduler,
        denoise=denoise,
        model=model if isinstance(model, ModelRef) else ModelRef(str(model)),
        positive=positive if isinstance(positive, Conditioning) else Conditioning(""),
        negative=negative if isinstance(negative, Conditioning) else Conditioning(""),
    )
    return SamplerCall(settings, add_noise)


def _check_model_files(ctx: NodeContext, inputs: dict[str, Any]) -> None:
    """folder_paths.get_full_path_or_raise: a model file this server does not have fails the
    node (V3 combos such as UpscaleModelLoader's are not checked at validation)."""
    for name, folder in model_inputs(ctx.class_type).items():
        value = inputs.get(name)
        if value is None:
            continue
        have = (
            vae_list(ctx.config.model_list)
            if ctx.class_type == "VAELoader"
            else ctx.config.model_list(folder)
        )
        if value not in have:
            raise NodeFailure(
                "FileNotFoundError",
                f"Model in folder '{folder}' with filename '{value}' not found.\n",
                [],
            )


def _files(ctx_class: str, inputs: dict[str, Any]) -> list[str]:
    return [str(inputs[n]) for n in model_inputs(ctx_class) if inputs.get(n) is not None]


def _label(schema: Schema, inputs: dict[str, Any]) -> str:
    files = _files(schema.class_type, inputs)
    return " + ".join(files) if files else schema.class_type


# ---------------------------------------------------------------- outputs by type
async def _output(ctx: NodeContext, schema: Schema, inputs: dict[str, Any], index: int) -> Any:
    kind, name = schema.outputs[index], schema.names[index]
    if kind in SCALARS:
        return _scalar(schema, inputs, kind, name)
    if kind == "CONDITIONING":
        return _conditioning(schema, inputs, index, name)
    if kind == "LATENT":
        return _latent(ctx, schema, inputs)
    if kind == "IMAGE":
        return await _image(ctx, schema, inputs)
    maker = _MAKERS.get(kind)
    if maker is not None:
        return maker(schema, inputs, name)
    same = schema.first(inputs, kind)
    if same is not None:
        return same
    label = _label(schema, inputs)
    if kind == "UPSCALE_MODEL":
        match = _UPSCALE_FACTOR.search(label)
        return Opaque(kind, label, int(match.group(1) or match.group(2)) if match else 4)
    return Opaque(kind, label)


def _scalar(schema: Schema, inputs: dict[str, Any], kind: str, name: str) -> Any:
    cast = _CAST[kind]
    key = name.lower()
    if key in inputs and isinstance(inputs[key], int | float | str | bool):
        return cast(inputs[key])
    attribute = _ATTRIBUTES.get(key, key)
    for value in inputs.values():
        found = getattr(value, attribute, None) if not isinstance(value, str) else None
        if isinstance(found, int | float | str | bool):
            return cast(found)
    same = schema.first(inputs, kind)
    return cast(same) if isinstance(same, int | float | str | bool) else SCALARS[kind]


def _conditioning(schema: Schema, inputs: dict[str, Any], index: int, name: str) -> Conditioning:
    conds = [
        (n, v) for n, v in schema.values(inputs, "CONDITIONING") if isinstance(v, Conditioning)
    ]
    by_name = dict(conds)
    position = schema.outputs[:index].count("CONDITIONING")
    wanted = sum(1 for o in schema.outputs if o == "CONDITIONING")
    if name.lower() in by_name:
        picked = [by_name[name.lower()]]
    elif wanted > 1 and wanted == len(conds):
        picked = [conds[position][1]]
    else:
        picked = [v for _, v in conds]
    texts = [c.text for c in picked]
    if schema.has("CLIP"):  # a text encoder: its own widgets are the prompt
        texts += [str(v) for _, v in schema.values(inputs, "STRING")]
    unique = list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
    controls = tuple(dict.fromkeys(c for cond in picked for c in cond.controls))
    control_net = schema.first(inputs, "CONTROL_NET")
    strength = float(inputs.get("strength", 1.0))
    if control_net is not None and strength != 0:
        control = Control(
            getattr(control_net, "name", str(control_net)),
            strength,
            float(inputs.get("start_percent", 0.0)),
            float(inputs.get("end_percent", 1.0)),
        )
        controls = (*controls, control)
    return Conditioning(", ".join(unique), controls)


def _latent(ctx: NodeContext, schema: Schema, inputs: dict[str, Any]) -> Latent:
    source = schema.first(inputs, "LATENT")
    if isinstance(source, Latent):
        return _resized_latent(schema, inputs, source)
    width, height = schema.number(inputs, "width"), schema.number(inputs, "height")
    if width is not None and height is not None:
        frames = schema.number(inputs, "length") or schema.number(inputs, "video_frames")
        batch = schema.number(inputs, "batch_size") or 1
        return Latent(int(width), int(height), int(batch), frames=int(frames) if frames else None)
    image = schema.first(inputs, "IMAGE")
    if isinstance(image, Images):
        # An encoder (VAEEncodeForInpaint, InpaintModelConditioning …): img2img pixels.
        w, h = image.width // 8 * 8, image.height // 8 * 8
        ctx.oom_check(w * h * image.batch)
        return Latent(w, h, image.batch, base=Images(np.ascontiguousarray(image.pixels[:, :h, :w])))
    return Latent(512, 512)


def _resized_latent(schema: Schema, inputs: dict[str, Any], li: Latent) -> Latent:
    w, h, batch = li.width, li.height, li.batch
    by = schema.number(inputs, "scale_by")
    width, height = schema.number(inputs, "width"), schema.number(inputs, "height")
    if by is not None:
        # LatentUpscaleBy scales the latent (1/8 of the pixels), rounding there.
        w, h = round(w / 8 * by) * 8, round(h / 8 * by) * 8
    elif width is not None and height is not None and (width or height):
        width = width or max(64, round(w * height / h))
        height = height or max(64, round(h * width / w))
        w, h = int(width) // 8 * 8, int(height) // 8 * 8
    amount = schema.number(inputs, "amount")
    if amount is not None:
        batch *= int(amount)
    start, length = schema.number(inputs, "batch_index"), schema.number(inputs, "length")
    if start is not None and length is not None:
        batch = max(1, min(int(length), batch - int(start)))
    if (w, h, batch) == (li.width, li.height, li.batch):
        return li
    return Latent(max(8, w), max(8, h), batch, li.frames, li.base, li.sampling)


async def _image(ctx: NodeContext, schema: Schema, inputs: dict[str, Any]) -> Images:
    image = schema.first(inputs, "IMAGE")
    if isinstance(image, Images):
        return await ctx.blocking(_transform_image, schema, inputs, image)
    latent = schema.first(inputs, "LATENT")
    if isinstance(latent, Latent):
        return await decoded(ctx, latent)
    video = schema.first(inputs, "VIDEO")
    if isinstance(video, Video):
        return Images(video.frames)
    w = int(schema.number(inputs, "width") or 512)
    h = int(schema.number(inputs, "height") or 512)
    batch = int(schema.number(inputs, "batch_size") or 1)
    return Images(np.broadcast_to(_GREY, (batch, h, w, 3)).copy())


def _transform_image(schema: Schema, inputs: dict[str, Any], image: Images) -> Images:
    method = str(inputs.get("upscale_method", "bilinear"))
    w, h = image.width, image.height
    upscaler = schema.first(inputs, "UPSCALE_MODEL")
    by = schema.number(inputs, "scale_by")
    megapixels = schema.number(inputs, "megapixels")
    width, height = schema.number(inputs, "width"), schema.number(inputs, "height")
    if isinstance(upscaler, Opaque):
        return scale(image, "bicubic", w * upscaler.scale, h * upscaler.scale, "disabled")
    if by is not None:
        return scale(image, method, max(1, round(w * by)), max(1, round(h * by)), "disabled")
    if megapixels is not None:
        factor = math.sqrt(megapixels * 1024 * 1024 / (w * h))
        return scale(
            image, method, max(1, round(w * factor)), max(1, round(h * factor)), "disabled"
        )
    if width is not None and height is not None:
        if "Crop" in schema.class_type:
            x = min(int(schema.number(inputs, "x") or 0), w - 1)
            y = min(int(schema.number(inputs, "y") or 0), h - 1)
            cw, ch = int(width) or w, int(height) or h
            pixels = image.pixels[:, y : y + ch, x : x + cw]
            alpha = image.alpha[:, y : y + ch, x : x + cw] if image.alpha is not None else None
            return Images(np.ascontiguousarray(pixels), alpha)
        return scale(image, method, int(width), int(height), str(inputs.get("crop", "disabled")))
    return image


def _mask(schema: Schema, inputs: dict[str, Any], name: str) -> Any:
    image = schema.first(inputs, "IMAGE")
    if isinstance(image, Images):
        return np.zeros((image.batch, image.height, image.width), np.float32)
    return np.zeros((1, 64, 64), np.float32)  # ComfyUI's empty mask


def _video(schema: Schema, inputs: dict[str, Any], name: str) -> Video:
    image = schema.first(inputs, "IMAGE")
    fps = float(inputs.get("fps", 24.0))
    if isinstance(image, Images):
        return Video(image.pixels, fps)
    return Video(np.broadcast_to(_GREY, (1, 512, 512, 3)).copy(), fps)


def _lora(schema: Schema, inputs: dict[str, Any], *strengths: str) -> tuple[str, float] | None:
    if model_inputs(schema.class_type).get("lora_name") != "loras" or "lora_name" not in inputs:
        return None
    for key in strengths:
        if key in inputs:
            return str(inputs["lora_name"]), float(inputs[key])
    return None


def _with_lora(
    schema: Schema, inputs: dict[str, Any], kind: str, ref: type[_Patched], strength: str
) -> _Patched:
    """The `kind` input (else a fresh one named after the file the node loads), with the LoRA
    the node loads added unless its strength is zero."""
    value = schema.first(inputs, kind)
    if not isinstance(value, ref):
        value = ref(_label(schema, inputs))
    lora = _lora(schema, inputs, strength, "strength")
    if lora is not None and lora[1] != 0:
        value = replace(value, loras=(*value.loras, lora))
    return value


def _model(schema: Schema, inputs: dict[str, Any], name: str) -> ModelRef:
    model = _with_lora(schema, inputs, "MODEL", ModelRef, "strength_model")
    shift = schema.number(inputs, "shift")
    if shift is not None:
        model = replace(model, shift=shift)
    return model


def _clip(schema: Schema, inputs: dict[str, Any], name: str) -> ClipRef:
    return _with_lora(schema, inputs, "CLIP", ClipRef, "strength_clip")


def _vae(schema: Schema, inputs: dict[str, Any], name: str) -> Any:
    return schema.first(inputs, "VAE") or VaeRef(_label(schema, inputs))


def _control_net(schema: Schema, inputs: dict[str, Any], name: str) -> Any:
    return schema.first(inputs, "CONTROL_NET") or ControlNetRef(_label(schema, inputs))


def _noise(schema: Schema, inputs: dict[str, Any], name: str) -> Noise:
    for key in ("noise_seed", "seed"):
        if key in inputs:
            return Noise(int(inputs[key]))
    return Noise(None)  # DisableNoise


def _guider(schema: Schema, inputs: dict[str, Any], name: str) -> Guider:
    conds = dict(schema.values(inputs, "CONDITIONING"))
    positive = next(
        (conds[k] for k in ("positive", "conditioning", "cond1") if k in conds),
        next(iter(conds.values()), Conditioning("")),
    )
    cfg = next((float(inputs[k]) for k in ("cfg", "cfg_conds") if k in inputs), 1.0)
    model = schema.first(inputs, "MODEL")
    return Guider(
        model if isinstance(model, ModelRef) else ModelRef(schema.class_type),
        positive,
        conds.get("negative", Conditioning("")),
        cfg,
    )


def _sampler(schema: Schema, inputs: dict[str, Any], name: str) -> SamplerRef:
    if "sampler_name" in inputs:
        return SamplerRef(str(inputs["sampler_name"]))
    # SamplerEulerAncestral -> euler_ancestral, SamplerDPMPP_2M_SDE -> dpmpp_2m_sde
    stem = schema.class_type.removeprefix("Sampler")
    return SamplerRef(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", stem).lower() or "euler")


def _sigmas(schema: Schema, inputs: dict[str, Any], name: str) -> Sigmas:
    source = schema.first(inputs, "SIGMAS")
    if isinstance(source, Sigmas):
        split = schema.number(inputs, "step")
        part = schema.number(inputs, "denoise")
        low_steps = None
        if split is not None:
            low_steps = max(0, source.steps - int(split))
        elif part is not None:
            low_steps = round(source.steps * part)
        if low_steps is None:
            return source
        if name.lower().startswith("low"):
            return replace(source, steps=low_steps)
        return replace(source, steps=source.steps - low_steps)
    scheduler = inputs.get("scheduler") or schema.class_type.removesuffix("Scheduler").lower()
    return Sigmas(int(inputs.get("steps", 20)), str(scheduler), float(inputs.get("denoise", 1.0)))


_MAKERS = {
    "MASK": _mask,
    "VIDEO": _video,
    "MODEL": _model,
    "CLIP": _clip,
    "VAE": _vae,
    "CONTROL_NET": _control_net,
    "NOISE": _noise,
    "GUIDER": _guider,
    "SAMPLER": _sampler,
    "SIGMAS": _sigmas,
}


# ---------------------------------------------------------------- output nodes
async def _save(ctx: NodeContext, schema: Schema, inputs: dict[str, Any]) -> dict[str, Any] | None:
    images = schema.first(inputs, "IMAGE")
    if not isinstance(images, Images):
        mask = schema.first(inputs, "MASK")
        if not isinstance(mask, np.ndarray):
            return None
        grey = (np.clip(mask, 0.0, 1.0) * 255).astype(np.uint8)
        images = Images(np.repeat(grey.reshape(-1, *grey.shape[-2:])[..., None], 3, axis=3))
    if "Preview" in schema.class_type:
        prefix, kind = f"ComfyUI_temp_{ctx.preview_suffix}", "temp"
    else:
        prefix, kind = str(inputs.get("filename_prefix", "ComfyUI")), "output"
    try:
        results = await ctx.blocking(write_images, ctx, images, prefix, kind)
    except ValueError as ex:
        raise NodeFailure("Exception", f"{ex}\n", []) from None
    if kind == "output":
        ctx.saved_prefixes.append(prefix)
    return {"images": results}
