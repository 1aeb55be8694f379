"""Sharpness: Laplacian variance and Tenengrad on a fixed-size grey image, minus noise."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

# Every image is measured at this width (height by aspect), so 1080×1350 and 1080×1920
# renders, or a 480p video frame, give comparable figures; half of a 1080-wide render, which
# INTER_AREA makes in well under a millisecond.
FIXED_WIDTH = 540
# Immerkær's noise kernel: zero on any plane, so flat colour and gradients give no response.
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
# Energy of white noise of sigma 1 through each operator (sum of squared kernel taps):
# Laplacian 4-neighbour 1+1+1+1+16, Sobel x and y 12 each, Immerkær 36.
_LAPLACIAN_NOISE = 20.0
_SOBEL_NOISE = 24.0
# The noise estimate is good to a few percent, and on a blurred image the little real edge
# energy left is a small difference of two large numbers: subtracting 20% more than expected
# makes sure noise can lower the score but never raise it.
_NOISE_MARGIN = 1.2
# Log-scale ranges mapped to 0..1, from ground-truth ads: a Gaussian blur of sigma 4 px at
# full size sits near the floor, a crisp 1080-wide ad near the top.
LAPLACIAN_RANGE = (3.0, 600.0)
TENENGRAD_RANGE = (800.0, 12000.0)


def noise_sigma(grey: np.ndarray, step: int = 1) -> float:
    """Robust noise sigma (grey levels): the median absolute Immerkær response. Flat regions
    dominate an ad, so edges and text do not move the median; `step` subsamples for speed."""
    response = cv2.filter2D(grey.astype(np.float32, copy=False), cv2.CV_32F, _IMMERKAER)
    inner = np.abs(response[1:-1:step, 1:-1:step])
    # For Gaussian noise the median of |x| is 0.6745 sigma; the kernel multiplies sigma by 6.
    return float(np.median(inner)) / 0.6745 / 6.0


def fixed_width(rgb: np.ndarray) -> np.ndarray:
    """The image at FIXED_WIDTH; INTER_AREA averages rather than aliasing."""
    h, w = rgb.shape[:2]
    if w == FIXED_WIDTH:
        return rgb
    height = max(1, round(h * FIXED_WIDTH / w))
    interp = cv2.INTER_AREA if w > FIXED_WIDTH else cv2.INTER_CUBIC
    return cv2.resize(rgb, (FIXED_WIDTH, height), interpolation=interp)


def _log_unit(value: float, lo: float, hi: float) -> float:
    if value <= lo:
        return 0.0
    return min(1.0, math.log(value / lo) / math.log(hi / lo))


def sharpness(work: np.ndarray) -> dict[str, Any]:
    """{"score", "raw"} of an RGB image at FIXED_WIDTH: the mean of both measures on a log
    scale. Noise inflates both, so the expected energy of the measured noise is subtracted."""
    grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY).astype(np.float32)
    sigma = noise_sigma(grey, step=2)
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    lap_var = float(lap.var())
    tenengrad = float(np.mean(gx * gx + gy * gy))
    noise_energy = _NOISE_MARGIN * sigma * sigma
    lap_clean = max(0.0, lap_var - _LAPLACIAN_NOISE * noise_energy)
    ten_clean = max(0.0, tenengrad - _SOBEL_NOISE * noise_energy)
    score = 0.5 * _log_unit(lap_clean, *LAPLACIAN_RANGE) + 0.5 * _log_unit(
        ten_clean, *TENENGRAD_RANGE
    )
    return {
        "score": score,
        "raw": {
            "laplacian_var": lap_var,
            "tenengrad": tenengrad,
            "noise_sigma": sigma,
            "laplacian_var_denoised": lap_clean,
            "tenengrad_denoised": ten_clean,
            "size": [int(grey.shape[1]), int(grey.shape[0])],
        },
    }
