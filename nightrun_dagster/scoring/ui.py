"""UI integrity: SSIM between a render and its base screenshot inside the mask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nightrun_dagster.scoring.media import load_grey, load_image

# The score uses SSIM over the structured pixels of the mask (local grey std above
# STRUCTURE_STD in the base or the render: text, edges, icons). Flat UI (white cards, grey
# background) scores about 1 whether or not the layout moved, so a plain mean barely falls
# when a screen is shifted or rotated; the plain mean is kept in raw. Below SSIM_THRESHOLD the
# layout has drifted: the score falls steeply, to 0 at SSIM_FLOOR; above it climbs to 1.
# On ground truth a 1.5 px shift of a 1080-wide screen measures about 0.6, 3 px about 0.35,
# a visibly moved layout under 0.25. That is what img2img does: at low denoise the latent
# still holds the layout to the pixel and only style changes (palette, softness), so the
# UI example job's renders measure about 0.95 at denoise 0.25 under a ControlNet of 0.75 or
# more, 0.6-0.7 at 0.35, and 0.4-0.5 at 0.45, where edges wobble and texture is invented.
# The base must be fitted exactly as ImageScale fits it: half a source pixel off costs 0.2.
STRUCTURE_STD = 5.0
SSIM_THRESHOLD = 0.5
SSIM_FLOOR = 0.1
SCORE_AT_THRESHOLD = 0.7
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def fit_to(img: np.ndarray, width: int, height: int, nearest: bool = False) -> np.ndarray:
    """Crop the centre to the target's aspect, then scale, exactly as ComfyUI's ImageScale
    with crop="center" (comfy.utils.common_upscale) prepares the base screenshot for the
    render: cropping after scaling instead lands up to a pixel off, which SSIM punishes."""
    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return img
    old, new = w / h, width / height
    x = y = 0
    if old > new:
        x = round((w - w * (new / old)) / 2)
    elif old < new:
        y = round((h - h * (old / new)) / 2)
    cropped = img[y : h - y, x : w - x]
    shrink = width < cropped.shape[1]
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)
    return cv2.resize(cropped, (width, height), interpolation=interp)


def ssim_map(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wang et al.'s SSIM with an 11-tap Gaussian window (sigma 1.5), per pixel, float32,
    with the local variances of `a` and `b`."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    aa, bb, ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    var_a = blur(a * a) - aa
    var_b = blur(b * b) - bb
    cov = blur(a * b) - ab
    smap = ((2 * ab + _C1) * (2 * cov + _C2)) / ((aa + bb + _C1) * (var_a + var_b + _C2))
    return smap, var_a, var_b


class UiReference:
    """A base screenshot and optional mask, loaded once and fitted to each render's size."""

    def __init__(self, base_ui: Path, mask: Path | None = None) -> None:
        self.base_path = base_ui
        self.mask_path = mask
        self._base = cv2.cvtColor(load_image(base_ui), cv2.COLOR_RGB2GRAY)
        self._mask = load_grey(mask) if mask is not None else None
        self._fitted: dict[tuple[int, int], tuple[np.ndarray, np.ndarray | None]] = {}

    def fitted(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray | None]:
        key = (width, height)
        if key not in self._fitted:
            base = fit_to(self._base, width, height)
            mask = None
            if self._mask is not None:
                mask = fit_to(self._mask, width, height, nearest=True) > 127
            self._fitted[key] = (base, mask)
        return self._fitted[key]


def ui_integrity(rgb: np.ndarray, ref: UiReference) -> dict[str, Any]:
    """{"score", "raw"}: mean SSIM inside the mask at full resolution (downscaling would
    average away the very noise and small shifts that mean drift)."""
    h, w = rgb.shape[:2]
    base, mask = ref.fitted(w, h)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if mask is not None and mask.any():
        ys, xs = np.nonzero(mask)
        # Only the mask's bounding box (plus the window's reach) needs the SSIM map.
        y0, y1 = max(0, ys.min() - 5), min(h, ys.max() + 6)
        x0, x1 = max(0, xs.min() - 5), min(w, xs.max() + 6)
        inside = mask[y0:y1, x0:x1]
        mask_share = float(mask.mean())
    else:
        y0, y1, x0, x1 = 0, h, 0, w
        inside = np.ones((h, w), bool)
        mask_share = 1.0
    render = grey[y0:y1, x0:x1]
    reference = base[y0:y1, x0:x1]
    if mask is not None:
        # Outside the mask the render is whatever the ad put there; give SSIM's window the
        # base's pixels instead, so nothing outside leaks into the border of the mask.
        render = np.where(inside, render, reference)
    smap, var_render, var_base = ssim_map(render, reference)
    plain = float(smap[inside].mean())
    limit = STRUCTURE_STD**2
    structured = inside & ((var_render > limit) | (var_base > limit))
    value = float(smap[structured].mean()) if structured.any() else plain
    if value >= SSIM_THRESHOLD:
        score = SCORE_AT_THRESHOLD + (1 - SCORE_AT_THRESHOLD) * (value - SSIM_THRESHOLD) / (
            1 - SSIM_THRESHOLD
        )
    else:
        score = SCORE_AT_THRESHOLD * max(0.0, value - SSIM_FLOOR) / (SSIM_THRESHOLD - SSIM_FLOOR)
    return {
        "score": float(min(1.0, max(0.0, score))),
        "raw": {
            "ssim": value,
            "ssim_plain": plain,
            "structured_share": float(structured.sum() / max(1, inside.sum())),
            "threshold": SSIM_THRESHOLD,
            "below_threshold": value < SSIM_THRESHOLD,
            "mask_share": mask_share,
            "base_ui": str(ref.base_path),
            "mask": str(ref.mask_path) if ref.mask_path is not None else None,
        },
    }
