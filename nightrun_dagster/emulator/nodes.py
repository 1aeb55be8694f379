"""Node implementations: each takes its resolved inputs and returns (outputs, ui)."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from nightrun_dagster.emulator.context import NodeContext
from nightrun_dagster.emulator.errors import NodeFailure, unidentified_image
from nightrun_dagster.emulator.files import png_bytes, resolve_input, save_path, write_atomic
from nightrun_dagster.emulator.sampling import SamplerCall, decoded, run_sampler
from nightrun_dagster.emulator.values import (
    ClipRef,
    Conditioning,
    Control,
    ControlNetRef,
    Images,
    IPAdapterRef,
    Latent,
    ModelRef,
    Sampling,
    VaeRef,
    Video,
)
from nightrun_dagster.emulator.video import encode_mp4, encode_video

Result = tuple[tuple[Any, ...], dict[str, Any] | None]
Impl = Callable[..., Awaitable[Result]]
NODES: dict[str, Impl] = {}


def node(name: str) -> Callable[[Impl], Impl]:
    def register(fn: Impl) -> Impl:
        NODES[name] = fn
        return fn

    return register


# ---------------------------------------------------------------- loaders
@node("CheckpointLoaderSimple")
async def checkpoint_loader(ctx: NodeContext, ckpt_name: str) -> Result:
    return (ModelRef(ckpt_name), ClipRef(ckpt_name), VaeRef(ckpt_name)), None


@node("UNETLoader")
async def unet_loader(ctx: NodeContext, unet_name: str, weight_dtype: str) -> Result:
    return (ModelRef(unet_name),), None


@node("CLIPLoader")
async def clip_loader(ctx: NodeContext, clip_name: str, type: str, device: str = "") -> Result:
    return (ClipRef(clip_name),), None


@node("VAELoader")
async def vae_loader(ctx: NodeContext, vae_name: str) -> Result:
    return (VaeRef(vae_name),), None


@node("LoraLoader")
async def lora_loader(
    ctx: NodeContext,
    model: ModelRef,
    clip: ClipRef,
    lora_name: str,
    strength_model: float,
    strength_clip: float,
) -> Result:
    if strength_model == 0 and strength_clip == 0:
        return (model, clip), None  # ComfyUI skips a LoRA at zero strength
    return (
        ModelRef(
            model.name,
            (*model.loras, (lora_name, strength_model)),
            model.shift,
            model.ipadapter_weight,
            model.product,
        ),
        ClipRef(clip.name, (*clip.loras, (lora_name, strength_clip))),
    ), None


@node("ControlNetLoader")
async def controlnet_loader(ctx: NodeContext, control_net_name: str) -> Result:
    return (ControlNetRef(control_net_name),), None


@node("ModelSamplingSD3")
async def model_sampling_sd3(ctx: NodeContext, model: ModelRef, shift: float) -> Result:
    return (ModelRef(model.name, model.loras, shift, model.ipadapter_weight, model.product),), None


@node("IPAdapterUnifiedLoader")
async def ipadapter_loader(
    ctx: NodeContext, model: ModelRef, preset: str, ipadapter: IPAdapterRef | None = None
) -> Result:
    # ComfyUI_IPAdapter_plus looks the files up at run time, not at validation.
    if not ctx.config.model_list("clip_vision"):
        raise NodeFailure("Exception", "ClipVision model not found.\n", [])
    if not ctx.config.model_list("ipadapter"):
        raise NodeFailure("Exception", "IPAdapter model not found.\n", [])
    return (model, IPAdapterRef(preset)), None


@node("IPAdapterAdvanced")
async def ipadapter_advanced(
    ctx: NodeContext,
    model: ModelRef,
    ipadapter: IPAdapterRef,
    image: Images,
    weight: float,
    weight_type: str,
    combine_embeds: str,
    start_at: float,
    end_at: float,
    embeds_scaling: str,
    **optional: Any,
) -> Result:
    return (ModelRef(model.name, model.loras, model.shift, weight, image),), None


# ---------------------------------------------------------------- conditioning and sampling
@node("CLIPTextEncode")
async def clip_text_encode(ctx: NodeContext, text: str, clip: ClipRef) -> Result:
    return (Conditioning(text),), None


@node("ControlNetApplyAdvanced")
async def controlnet_apply(
    ctx: NodeContext,
    positive: Conditioning,
    negative: Conditioning,
    control_net: ControlNetRef,
    image: Images,
    strength: float,
    start_percent: float,
    end_percent: float,
    vae: VaeRef | None = None,
) -> Result:
    if strength == 0:
        return (positive, negative), None
    control = Control(control_net.name, strength, start_percent, end_percent)
    return (
        Conditioning(positive.text, (*positive.controls, control)),
        Conditioning(negative.text, (*negative.controls, control)),
    ), None


@node("EmptyLatentImage")
async def empty_latent(ctx: NodeContext, width: int, height: int, batch_size: int) -> Result:
    return (Latent(width, height, batch_size),), None


@node("EmptyHunyuanLatentVideo")
async def empty_video_latent(
    ctx: NodeContext, width: int, height: int, length: int, batch_size: int
) -> Result:
    return (Latent(width, height, batch_size, frames=length),), None


@node("KSampler")
async def ksampler(
    ctx: NodeContext,
    model: ModelRef,
    seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive: Conditioning,
    negative: Conditioning,
    latent_image: Latent,
    denoise: float,
) -> Result:
    call = SamplerCall(
        Sampling(seed, steps, cfg, sampler_name, scheduler, denoise, model, positive, negative)
    )
    return (await run_sampler(ctx, call, latent_image),), None


@node("VAEEncode")
async def vae_encode(ctx: NodeContext, pixels: Images, vae: VaeRef) -> Result:
    # The VAE works on multiples of 8: ComfyUI crops the rest.
    w, h = pixels.width // 8 * 8, pixels.height // 8 * 8
    ctx.oom_check(w * h * pixels.batch)
    cropped = Images(np.ascontiguousarray(pixels.pixels[:, :h, :w, :]))
    return (Latent(w, h, pixels.batch, base=cropped),), None


@node("VAEDecode")
async def vae_decode(ctx: NodeContext, samples: Latent, vae: VaeRef) -> Result:
    return (await decoded(ctx, samples),), None


# ---------------------------------------------------------------- images
@node("EmptyImage")
async def empty_image(
    ctx: NodeContext, width: int, height: int, batch_size: int, color: int
) -> Result:
    rgb = np.array([(color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF], np.uint8)
    return (Images(np.broadcast_to(rgb, (batch_size, height, width, 3)).copy()),), None


@node("ImageInvert")
async def image_invert(ctx: NodeContext, image: Images) -> Result:
    return (Images(255 - image.pixels, image.alpha),), None


_INTERPOLATION = {
    "nearest-exact": cv2.INTER_NEAREST_EXACT,
    "bilinear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}


@node("ImageScale")
async def image_scale(
    ctx: NodeContext, image: Images, upscale_method: str, width: int, height: int, crop: str
) -> Result:
    return (await ctx.blocking(scale, image, upscale_method, width, height, crop),), None


def scale(image: Images, method: str, width: int, height: int, crop: str) -> Images:
    if width == 0 and height == 0:
        return image
    w0, h0 = image.width, image.height
    width = width or max(1, round(w0 * height / h0))
    height = height or max(1, round(h0 * width / w0))
    pixels, alpha = image.pixels, image.alpha
    if crop == "center":
        # comfy.utils.common_upscale: crop to the target aspect first, the same margin off
        # both sides (rounded as it rounds), so a scorer can rebuild the very same pixels.
        old, new = w0 / h0, width / height
        x = round((w0 - w0 * (new / old)) / 2) if old > new else 0
        y = round((h0 - h0 * (old / new)) / 2) if old < new else 0
        pixels = pixels[:, y : h0 - y, x : w0 - x]
        alpha = alpha[:, y : h0 - y, x : w0 - x] if alpha is not None else None
    mode = _INTERPOLATION.get(method, cv2.INTER_LINEAR)
    out = np.stack([cv2.resize(p, (width, height), interpolation=mode) for p in pixels])
    out_alpha = (
        np.stack([cv2.resize(a, (width, height), interpolation=mode) for a in alpha])
        if alpha is not None
        else None
    )
    return Images(out, out_alpha)


@node("ImageBlur")
async def image_blur(ctx: NodeContext, image: Images, blur_radius: int, sigma: float) -> Result:
    if blur_radius == 0:
        return (image,), None
    size = blur_radius * 2 + 1

    def blur() -> Images:
        return Images(
            np.stack([cv2.GaussianBlur(p, (size, size), sigma) for p in image.pixels]),
            image.alpha,
        )

    return (await ctx.blocking(blur),), None


@node("Canny")
async def canny(
    ctx: NodeContext, image: Images, low_threshold: float, high_threshold: float
) -> Result:
    def edges() -> Images:
        out = []
        for p in image.pixels:
            gray = cv2.cvtColor(p, cv2.COLOR_RGB2GRAY)
            e = cv2.Canny(gray, low_threshold * 255, high_threshold * 255)
            out.append(np.repeat(e[..., None], 3, axis=2))
        return Images(np.stack(out))

    return (await ctx.blocking(edges),), None


@node("LoadImage")
async def load_image(ctx: NodeContext, image: str) -> Result:
    path = resolve_input(image, ctx.folders)
    if path is None:
        raise NodeFailure(
            "FileNotFoundError",
            f"[Errno 2] No such file or directory: '{ctx.folders.input / image}'\n",
            [],
        )

    def load() -> tuple[Images, np.ndarray]:
        try:
            with Image.open(path) as img:
                img = ImageOps.exif_transpose(img)
                rgba = np.asarray(img.convert("RGBA"))
        except UnidentifiedImageError:
            raise unidentified_image(str(path)) from None
        pixels = np.ascontiguousarray(rgba[..., :3])[None]
        alpha = np.ascontiguousarray(rgba[..., 3])[None]
        # ComfyUI's MASK is 1 - alpha.
        mask = 1.0 - alpha.astype(np.float32) / 255.0
        return Images(pixels, alpha), mask

    images, mask = await ctx.blocking(load)
    return (images, mask), None


NODES["LoadImageOutput"] = load_image  # LoadImage's subclass: `name.png [output]`


@node("LoadImageMask")
async def load_image_mask(ctx: NodeContext, image: str, channel: str) -> Result:
    path = resolve_input(image, ctx.folders)
    if path is None:
        raise NodeFailure(
            "FileNotFoundError",
            f"[Errno 2] No such file or directory: '{ctx.folders.input / image}'\n",
            [],
        )

    def load() -> np.ndarray:
        try:
            with Image.open(path) as img:
                rgba = ImageOps.exif_transpose(img).convert("RGBA")
        except UnidentifiedImageError:
            raise unidentified_image(str(path)) from None
        band = channel[0].upper()
        mask = np.asarray(rgba.getchannel(band), np.float32) / 255.0
        return (1.0 - mask if band == "A" else mask)[None]

    return (await ctx.blocking(load),), None


def write_images(
    ctx: NodeContext, images: Images, prefix: str, kind: str, metadata: bool = True
) -> list[dict[str, str]]:
    root = ctx.folders.output if kind == "output" else ctx.folders.temp
    folder, stem, counter, subfolder = save_path(prefix, root)
    extra = ctx.extra_data.get("extra_pnginfo") if metadata else None
    results = []
    for batch_number, pixels in enumerate(images.pixels):
        name = stem.replace("%batch_num%", str(batch_number))
        file = f"{name}_{counter:05}_.png"
        data = png_bytes(pixels, ctx.prompt if metadata else None, extra)
        write_atomic(folder / file, data)
        results.append({"filename": file, "subfolder": subfolder, "type": kind})
        counter += 1
    return results


@node("SaveImage")
async def save_image(ctx: NodeContext, images: Images, filename_prefix: str) -> Result:
    try:
        results = await ctx.blocking(write_images, ctx, images, filename_prefix, "output")
    except ValueError as ex:
        raise NodeFailure("Exception", f"{ex}\n", []) from None
    ctx.saved_prefixes.append(filename_prefix)
    return (), {"images": results}


@node("PreviewImage")
async def preview_image(ctx: NodeContext, images: Images) -> Result:
    prefix = f"ComfyUI_temp_{ctx.preview_suffix}"
    results = await ctx.blocking(write_images, ctx, images, prefix, "temp")
    return (), {"images": results}


@node("SaveImageWebsocket")
async def save_image_websocket(ctx: NodeContext, images: Images) -> Result:
    total = images.batch
    for step, pixels in enumerate(images.pixels):
        data = await ctx.blocking(png_bytes, pixels)
        await ctx.progress(step, total, data)
    return (), {}


@node("CreateVideo")
async def create_video(
    ctx: NodeContext, images: Images, fps: float, audio: Any | None = None
) -> Result:
    return (Video(images.pixels, fps),), None


async def _save_file(
    ctx: NodeContext,
    filename_prefix: str,
    extension: str,
    write: Callable[[Path], None],
    errors: tuple[type[Exception], ...] = (ValueError,),
) -> dict[str, str]:
    """One output file, `<prefix>_<counter>_.<extension>`, made by `write` at the path it is
    given; what the encoder raises fails the node as it does in ComfyUI."""

    def save() -> dict[str, str]:
        folder, stem, counter, subfolder = save_path(filename_prefix, ctx.folders.output)
        file = f"{stem}_{counter:05}_.{extension}"
        write(folder / file)
        return {"filename": file, "subfolder": subfolder, "type": "output"}

    try:
        result = await ctx.blocking(save)
    except errors as ex:
        raise NodeFailure("Exception", f"{ex}\n", []) from None
    ctx.saved_prefixes.append(filename_prefix)
    return result


def _metadata(ctx: NodeContext) -> dict[str, Any]:
    """What a saved file carries: the prompt, then the workflow's `extra_pnginfo` entries."""
    return {"prompt": ctx.prompt, **(ctx.extra_data.get("extra_pnginfo") or {})}


@node("SaveVideo")
async def save_video(
    ctx: NodeContext, video: Video, filename_prefix: str, format: str, codec: str
) -> Result:
    def write(path: Path) -> None:
        encode_mp4(video.frames, video.fps, path, _metadata(ctx))

    errors = (ValueError, RuntimeError, FileNotFoundError)
    result = await _save_file(ctx, filename_prefix, "mp4", write, errors)
    # comfy_api ui.PreviewVideo: the file under "images", flagged animated.
    return (), {"images": [result], "animated": [True]}


@node("SaveWEBM")
async def save_webm(
    ctx: NodeContext, images: Images, filename_prefix: str, codec: str, fps: float, crf: float
) -> Result:
    def write(path: Path) -> None:
        encode_video(images.pixels, fps, path, _metadata(ctx), codec, crf)

    errors = (ValueError, RuntimeError, FileNotFoundError, KeyError)
    result = await _save_file(ctx, filename_prefix, "webm", write, errors)
    return (), {"images": [result], "animated": [True]}


_WEBP_METHODS = {"default": 4, "fastest": 0, "slowest": 6}


@node("SaveAnimatedWEBP")
async def save_animated_webp(
    ctx: NodeContext,
    images: Images,
    filename_prefix: str,
    fps: float,
    lossless: bool,
    quality: int,
    method: str,
) -> Result:
    def write(path: Path) -> None:
        frames = [Image.fromarray(p) for p in images.pixels]
        exif = frames[0].getexif()
        exif[0x0110] = f"prompt:{json.dumps(ctx.prompt)}"
        for offset, (key, value) in enumerate((ctx.extra_data.get("extra_pnginfo") or {}).items()):
            exif[0x010F - offset] = f"{key}:{json.dumps(value)}"
        buffer = io.BytesIO()
        frames[0].save(
            buffer,
            format="WEBP",
            save_all=True,
            duration=int(1000.0 / fps),
            append_images=frames[1:],
            exif=exif,
            lossless=lossless,
            quality=quality,
            method=_WEBP_METHODS.get(method, 4),
        )
        write_atomic(path, buffer.getvalue())

    result = await _save_file(ctx, filename_prefix, "webp", write)
    # One file for the whole batch; "animated" is false for a single frame.
    return (), {"images": [result], "animated": [images.batch != 1]}


@node("SaveAnimatedPNG")
async def save_animated_png(
    ctx: NodeContext, images: Images, filename_prefix: str, fps: float, compress_level: int
) -> Result:
    def write(path: Path) -> None:
        info = PngInfo()
        for key, value in _metadata(ctx).items():
            info.add(b"comf", key.encode("latin-1") + b"\0" + json.dumps(value).encode(), True)
        frames = [Image.fromarray(p) for p in images.pixels]
        buffer = io.BytesIO()
        frames[0].save(
            buffer,
            format="PNG",
            pnginfo=info,
            compress_level=compress_level,
            save_all=True,
            duration=int(1000.0 / fps),
            append_images=frames[1:],
        )
        write_atomic(path, buffer.getvalue())

    result = await _save_file(ctx, filename_prefix, "png", write)
    return (), {"images": [result], "animated": [True]}


# ---------------------------------------------------------------- strings
@node("PrimitiveString")
async def primitive_string(ctx: NodeContext, value: str) -> Result:
    return (value,), None


@node("StringConcatenate")
async def string_concatenate(
    ctx: NodeContext, string_a: str, string_b: str, delimiter: str
) -> Result:
    return (delimiter.join([string_a, string_b]),), None


@node("PreviewAny")
async def preview_any(ctx: NodeContext, source: Any = None) -> Result:
    value = "None"
    if isinstance(source, str):
        value = source
    elif isinstance(source, int | float | bool):
        value = str(source)
    elif source is not None:
        try:
            value = json.dumps(source)
        except (TypeError, ValueError):
            value = str(source)
    return (), {"text": [value]}


def input_hash(path: Path | None) -> str:
    """LoadImage.IS_CHANGED: the file's content, so a re-upload under the same name re-runs."""
    if path is None:
        return "missing"
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
