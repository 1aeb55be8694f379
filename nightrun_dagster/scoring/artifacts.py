"""Obvious defects: grain and block noise, clipped or blown areas, blank or one-colour images."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from nightrun_dagster.scoring.sharpness import noise_sigma

# Noise sigma (grey levels, full size) at which the noise factor halves; sampler grain in a
# clean render measures under 1, visible grain 3 and up.
NOISE_HALF = 5.0
# Designed ads use pure white and pure colours, so clipping only counts past these shares.
CLIP_FREE_SHARE = 0.35  # pixels with a saturated channel (oversaturation, high CFG)
BLOWN_FREE_SHARE = 0.6  # pixels blown to white or crushed to black in every channel
BLANK_STD = 3.0  # grey levels: below this the image is one flat colour
SINGLE_COLOUR_SHARE = 0.97
# Block noise (over-strong LoRAs, broken VAE decodes) lives on the 8-pixel latent grid: steps
# between pixels across grid lines, none inside the cells. Clean renders and ads measure a
# ratio near 1 (edges fall anywhere), blocky ones 3 and more.
BLOCK_GRID = 8
BLOCK_FREE_RATIO = 1.3
# Isolated specks: pixels far (SPECK_LEVELS) from their 3×3 median. Clean art has about
# 0.03% of them (corners of thin lettering); past SPECK_HALF_SHARE the factor halves.
SPECK_LEVELS = 80
SPECK_HALF_SHARE = 0.002


def _blockiness(grey: np.ndarray) -> float:
    """Mean step across grid lines over the mean step elsewhere, both directions; +1 grey
    level on each side keeps flat images at 1."""
    ratios = []
    for axis in (1, 0):
        a = grey[:, 1:] if axis == 1 else grey[1:, :]
        b = grey[:, :-1] if axis == 1 else grey[:-1, :]
        steps = cv2.absdiff(a, b)
        on_grid = (
            steps[:, BLOCK_GRID - 1 :: BLOCK_GRID]
            if axis == 1
            else steps[BLOCK_GRID - 1 :: BLOCK_GRID]
        )
        total, grid = float(steps.sum(dtype=np.int64)), float(on_grid.sum(dtype=np.int64))
        off_count = steps.size - on_grid.size
        if on_grid.size == 0 or off_count == 0:
            continue
        ratios.append((grid / on_grid.size + 1.0) / ((total - grid) / off_count + 1.0))
    return float(np.mean(ratios)) if ratios else 1.0


def artifacts(rgb: np.ndarray, thumb: np.ndarray) -> dict[str, Any]:
    """{"score", "raw"}: the product of a noise, a clipping and a blank factor. `thumb` is
    the small RGB thumbnail the colour check also uses."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    sigma = noise_sigma(grey, step=3)
    noise_factor = 1.0 / (1.0 + (sigma / NOISE_HALF) ** 2)

    lo = thumb.min(axis=2)
    hi = thumb.max(axis=2)
    blown = (lo >= 250) | (hi <= 5)
    channel_clip = ((hi >= 253) | (lo <= 2)) & ~blown
    blown_share = float(blown.mean())
    clip_share = float(channel_clip.mean())
    clip_excess = max(0.0, clip_share - CLIP_FREE_SHARE) / (1.0 - CLIP_FREE_SHARE)
    blown_excess = max(0.0, blown_share - BLOWN_FREE_SHARE) / (1.0 - BLOWN_FREE_SHARE)
    clip_factor = (1.0 - 0.6 * clip_excess) * (1.0 - 0.8 * blown_excess)

    blockiness = _blockiness(grey)
    block_factor = 1.0 / (1.0 + max(0.0, blockiness - BLOCK_FREE_RATIO) ** 2)
    speck_diff = cv2.absdiff(grey, cv2.medianBlur(grey, 3))
    speck_share = cv2.countNonZero((speck_diff > SPECK_LEVELS).astype(np.uint8)) / grey.size
    speck_factor = 1.0 / (1.0 + (speck_share / SPECK_HALF_SHARE) ** 2)

    flat = thumb.reshape(-1, 3).astype(np.int16)
    median = np.median(flat, axis=0)
    single_share = float(np.mean(np.abs(flat - median).max(axis=1) <= 6))
    grey_std = float(cv2.cvtColor(thumb, cv2.COLOR_RGB2GRAY).std())
    blank = grey_std < BLANK_STD or single_share >= SINGLE_COLOUR_SHARE
    score = 0.0 if blank else noise_factor * clip_factor * block_factor * speck_factor
    return {
        "score": float(score),
        "raw": {
            "noise_sigma": sigma,
            "clipped_channel_share": clip_share,
            "blown_or_crushed_share": blown_share,
            "single_colour_share": single_share,
            "grey_std": grey_std,
            "near_blank": bool(blank),
            "blockiness": blockiness,
            "speck_share": speck_share,
            "noise_factor": noise_factor,
            "clip_factor": clip_factor,
            "block_factor": block_factor,
            "speck_factor": speck_factor,
        },
    }
