"""What flows along the emulator's links: stand-ins for models, conditioning, latents, images."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np


class _Printed:
    """A value ComfyUI prints as its Python object (in error messages and /history); `printed`
    is that text, one per class."""

    printed: ClassVar[str]

    def __str__(self) -> str:
        return self.printed


@dataclass(frozen=True)
class ModelRef(_Printed):
    printed = "<comfy.model_patcher.ModelPatcher object at 0x7f3c2a1b4d90>"

    name: str
    loras: tuple[tuple[str, float], ...] = ()
    shift: float | None = None
    ipadapter_weight: float = 0.0
    product: Images | None = None  # the image IP-Adapter was given


@dataclass(frozen=True)
class ClipRef(_Printed):
    printed = "<comfy.sd.CLIP object at 0x7f3c2a1b5e50>"

    name: str
    loras: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class _Named(_Printed):
    """A value known only by the file (or the sampler) it stands for."""

    name: str


class VaeRef(_Named):
    printed = "<comfy.sd.VAE object at 0x7f3c2a1b6f10>"


class ControlNetRef(_Named):
    printed = "<comfy.controlnet.ControlNet object at 0x7f3c2a1b7a30>"


@dataclass(frozen=True)
class IPAdapterRef:
    preset: str

    def __str__(self) -> str:
        return f"{{'ipadapter': {{'file': ..., 'model': ...}}, 'preset': '{self.preset}'}}"


@dataclass(frozen=True)
class Control:
    name: str
    strength: float
    start: float
    end: float


@dataclass(frozen=True)
class Conditioning(_Printed):
    printed = "[[tensor([[[-0.3885,  0.0230, -0.0521,  ...]]]), {'pooled_output': ...}]]"

    text: str
    controls: tuple[Control, ...] = ()


@dataclass(frozen=True)
class Sampling:
    """A KSampler's parameters, decoded into pixels by VAEDecode."""

    seed: int
    steps: int
    cfg: float
    sampler: str
    scheduler: str
    denoise: float
    model: ModelRef
    positive: Conditioning
    negative: Conditioning


@dataclass(frozen=True, eq=False)
class Latent:
    width: int
    height: int
    batch: int = 1
    frames: int | None = None  # video latents: decoded frame count
    base: Images | None = None  # VAEEncode's pixels (img2img)
    sampling: Sampling | None = None
    # The decode, started while the sampler "runs", so real work hides inside render_ms.
    decoded: asyncio.Future[Images] | None = None

    @property
    def pixels(self) -> int:
        return self.width * self.height * self.batch * (self.frames or 1)

    def __str__(self) -> str:
        return "{'samples': tensor([[[[0., 0., 0.,  ..., 0., 0., 0.]]]])}"


@dataclass(frozen=True, eq=False)
class Images:
    """An IMAGE batch: uint8 (batch, height, width, 3); alpha kept for LoadImage'd products."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None

    @property
    def width(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def batch(self) -> int:
        return int(self.pixels.shape[0])

    def __str__(self) -> str:
        b, h, w, c = self.pixels.shape
        return f"tensor of shape torch.Size([{b}, {h}, {w}, {c}])"


@dataclass(frozen=True, eq=False)
class Video:
    frames: np.ndarray  # uint8 (frames, height, width, 3)
    fps: float
    extra: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "<comfy_api.latest._input_impl.video_types.VideoFromComponents object>"


# ---------------------------------------------------------------- custom sampling (SamplerCustom*)
@dataclass(frozen=True)
class Noise(_Printed):
    """RandomNoise's seed; None for DisableNoise."""

    printed = "<comfy_extras.nodes_custom_sampler.Noise_RandomNoise object at 0x7f3c2a1b8b50>"

    seed: int | None


@dataclass(frozen=True)
class Guider(_Printed):
    """CFGGuider / BasicGuider / DualCFGGuider: the model, the prompts and the scale."""

    printed = "<comfy.samplers.CFGGuider object at 0x7f3c2a1b8c70>"

    model: ModelRef
    positive: Conditioning
    negative: Conditioning
    cfg: float


class SamplerRef(_Named):
    """KSamplerSelect's (or a Sampler* node's) sampler."""

    printed = "<comfy.samplers.KSAMPLER object at 0x7f3c2a1b8d90>"


@dataclass(frozen=True)
class Sigmas(_Printed):
    """A schedule: how many steps, from which scheduler, over how much of the noise."""

    printed = "tensor([14.6146, 10.7468,  8.0815,  ...,  0.0292,  0.0000])"

    steps: int
    scheduler: str
    denoise: float = 1.0


@dataclass(frozen=True)
class Opaque:
    """Any other link type (CLIP_VISION, UPSCALE_MODEL, HOOKS, AUDIO, …): its type and the model
    file or class that made it."""

    type: str
    name: str
    scale: int = 1  # UPSCALE_MODEL: how much ImageUpscaleWithModel enlarges

    def __str__(self) -> str:
        return f"<{self.type} object at 0x7f3c2a1b8eb0>"
