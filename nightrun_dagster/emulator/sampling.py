"""What every sampler node does here: turn a latent into a sampled one, tick its steps, and
decode it into the synthetic ad while the steps tick (KSampler, KSamplerAdvanced, SamplerCustom,
SamplerCustomAdvanced and anything else shaped like a sampler)."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from nightrun_dagster.emulator import render as synth
from nightrun_dagster.emulator.context import NodeContext
from nightrun_dagster.emulator.prompt_text import parse_ad_text
from nightrun_dagster.emulator.values import Images, Latent, Sampling


@dataclass(frozen=True)
class SamplerCall:
    """One sampler node's settings, however the node spells them: what it samples with (its
    `steps` are the steps this node runs; KSamplerAdvanced: end − start), and whether it adds
    noise."""

    settings: Sampling
    add_noise: bool = True

    @property
    def steps(self) -> int:
        return self.settings.steps


def sampled(call: SamplerCall, latent: Latent) -> Latent:
    """The latent after sampling, without its pixels yet.

    A pass that adds no noise or only part of it over a latent another sampler already made (an
    SDXL refiner after the base's leftover noise, the second KSampler of a hires fix) refines
    that picture: same scene, more steps, at the latent's (maybe upscaled) size. Anything else
    samples afresh from this node's seed and prompts, over VAEEncode'd pixels for img2img."""
    li = latent
    earlier = li.sampling
    refines = not call.add_noise or call.settings.denoise < 1.0
    if earlier is not None and li.base is None and refines:
        sampling = dataclasses.replace(earlier, steps=earlier.steps + call.steps)
    else:
        sampling = call.settings
    return Latent(li.width, li.height, li.batch, li.frames, li.base, sampling)


async def run_sampler(ctx: NodeContext, call: SamplerCall, latent_image: Latent) -> Latent:
    """Tick `call.steps` progress frames across this node's share of render_ms, decoding the
    result meanwhile so the real work hides inside the sampler's time."""
    ctx.oom_check(latent_image.pixels)
    if call.steps <= 0:  # KSamplerAdvanced with start_at_step >= end_at_step: nothing to do
        await ctx.pace(1.0)
        return latent_image
    latent = sampled(call, latent_image)
    pixels = asyncio.ensure_future(ctx.blocking(decode, latent))
    # An interrupted prompt never decodes: collect the outcome so asyncio does not complain.
    pixels.add_done_callback(lambda f: f.cancelled() or f.exception())
    try:
        for step in range(1, call.steps + 1):
            await ctx.pace(step / call.steps)
            await ctx.progress(step, call.steps, None)
    except BaseException:
        pixels.cancel()
        raise
    return dataclasses.replace(latent, decoded=pixels)


async def decoded(ctx: NodeContext, latent: Latent) -> Images:
    """A latent's pixels: the sampler's decode if it started one, else decoded now."""
    if latent.decoded is not None:
        return await asyncio.shield(latent.decoded)
    return await ctx.blocking(decode, latent)


def decode(latent: Latent) -> Images:
    """Pixels for a latent: the synthetic ad for a sampled one, its base for a bare img2img
    latent, and the brownish grey a VAE makes of zeros otherwise."""
    w, h = latent.width, latent.height
    if latent.sampling is None:
        if latent.base is not None:
            base = latent.base
            if (base.width, base.height) == (w, h):
                return base
            return Images(np.stack([cv2.resize(p, (w, h)) for p in base.pixels]))
        count = latent.batch * (latent.frames or 1)
        return Images(np.broadcast_to(np.array([124, 118, 108], np.uint8), (count, h, w, 3)).copy())
    s = latent.sampling
    text = parse_ad_text(s.positive.text)
    strengths = [c.strength for c in s.positive.controls]
    product = None
    if s.model.product is not None:
        p = s.model.product
        alpha = p.alpha[0] if p.alpha is not None else np.full(p.pixels.shape[1:3], 255, np.uint8)
        product = np.dstack([p.pixels[0], alpha])
    frames: list[np.ndarray] = []
    for i in range(latent.batch):
        base = None
        if latent.base is not None:
            b = latent.base.pixels[min(i, latent.base.batch - 1)]
            base = b if b.shape[:2] == (h, w) else cv2.resize(b, (w, h))
        scene = synth.Scene(
            width=w,
            height=h,
            seed=s.seed + i,
            steps=s.steps,
            cfg=s.cfg,
            sampler=s.sampler,
            denoise=s.denoise,
            text=text,
            loras=s.model.loras,
            control_strength=min(strengths) if strengths else None,
            ipadapter_weight=s.model.ipadapter_weight if product is not None else 0.0,
            base=base,
            product=product,
        )
        still = synth.render(scene)
        if latent.frames:
            frames.extend(synth.animate(still, latent.frames, s.seed + i))
        else:
            frames.append(still)
    return Images(np.stack(frames))
