"""Brand colour compliance: k-means palette of a thumbnail, CIEDE2000 to the brand colours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

THUMB_WIDTH = 96  # about 11,000 pixels at 4:5: shares to a tenth of a percent
PALETTE_SIZE = 6
# ΔE2000 within which a pixel or palette colour counts as the brand colour: a LoRA's grading
# or a gradient's soft end stays inside, another hue does not.
TOLERANCE = 12.0
# Pixels this close to grey (Lab chroma) are text, white space or shadow, allowed in any
# palette, so compliance is measured on chromatic pixels only.
NEUTRAL_CHROMA = 12.0
PRESENT_SHARE = 0.02  # a palette colour smaller than this is not "dominant"


def thumbnail(rgb: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    h, w = rgb.shape[:2]
    height = max(1, round(h * width / w))
    interp = cv2.INTER_AREA if w > width else cv2.INTER_LINEAR
    return cv2.resize(rgb, (width, height), interpolation=interp)


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    digits = colour.strip().lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (..., 3) to CIELAB (L 0..100) float32, D65."""
    flat = rgb.reshape(1, -1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(*rgb.shape[:-1], 3)


def delta_e2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 (Sharma, Wu & Dalal 2005) between Lab arrays (..., 3) that broadcast, in
    float32: skimage's float64 version is several times slower on a thumbnail."""
    lab1 = np.asarray(lab1, np.float32)
    lab2 = np.asarray(lab2, np.float32)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    c7 = c_bar**7
    g = 0.5 * (1 - np.sqrt(c7 / (c7 + np.float32(25.0**7))))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0, dh)
    dhh = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_bar = (l1 + l2) / 2
    cp_bar = (c1p + c2p) / 2
    hsum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) > 180, np.where(hsum < 360, hsum + 360, hsum - 360) / 2, hsum / 2
    )
    h_bar = np.where(c1p * c2p == 0, hsum, h_bar)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    cp7 = cp_bar**7
    rc = 2 * np.sqrt(cp7 / (cp7 + np.float32(25.0**7)))
    sl = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    sc = 1 + 0.045 * cp_bar
    sh = 1 + 0.015 * cp_bar * t
    rt = -np.sin(np.radians(2 * d_theta)) * rc
    return np.sqrt((dl / sl) ** 2 + (dc / sc) ** 2 + (dhh / sh) ** 2 + rt * (dc / sc) * (dhh / sh))


def _hex(rgb: np.ndarray) -> str:
    r, g, b = (round(float(c)) for c in np.clip(rgb, 0, 255))
    return f"#{r:02X}{g:02X}{b:02X}"


def dominant_palette(thumb: np.ndarray, k: int = PALETTE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(centres RGB (k, 3), shares (k,)) by k-means, largest share first; deterministic."""
    samples = thumb.reshape(-1, 3).astype(np.float32)
    k = max(1, min(k, len(samples)))
    cv2.setRNGSeed(0)  # k-means++ seeding draws from OpenCV's RNG: same image, same palette
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 12, 1.0)
    _, labels, centres = cv2.kmeans(samples, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    shares = np.bincount(labels.ravel(), minlength=k).astype(np.float64) / len(samples)
    order = np.argsort(-shares)
    return centres[order], shares[order]


def brand_color(thumb: np.ndarray, brand_colors: Sequence[str]) -> dict[str, Any] | None:
    """{"score", "raw"} or None when the job names no brand colours. The score is half
    presence (each brand colour among the dominant palette) and half compliance (the share
    of chromatic pixels within TOLERANCE of some brand colour)."""
    if not brand_colors:
        return None
    brand_rgb = np.array([hex_to_rgb(c) for c in brand_colors], np.uint8)
    brand_lab = to_lab(brand_rgb)
    # Flat graphic ads repeat few colours: measure each distinct colour once, weight by count.
    flat = thumb.reshape(-1, 3).astype(np.int32)
    keys = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    unique, counts = np.unique(keys, return_counts=True)
    colours = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1)
    pixels = to_lab(colours.astype(np.uint8))
    weight = counts / counts.sum()
    nearest = delta_e2000(pixels[:, None, :], brand_lab[None, :, :]).min(axis=1)
    chroma = np.hypot(pixels[:, 1], pixels[:, 2])
    chromatic = chroma > NEUTRAL_CHROMA
    within = nearest <= TOLERANCE
    # Brand colours that are themselves near grey (a black or white brand) count everywhere.
    brand_neutral = np.hypot(brand_lab[:, 1], brand_lab[:, 2]) <= NEUTRAL_CHROMA
    chromatic_share = float(weight[chromatic].sum())
    if chromatic_share > 0:
        compliance = float(weight[chromatic & within].sum()) / chromatic_share
    else:
        compliance = 1.0 if brand_neutral.any() else 0.0
    share_within = float(weight[within].sum())

    centres, shares = dominant_palette(thumb)
    centre_lab = to_lab(np.clip(centres, 0, 255).astype(np.uint8)[None, :, :])[0]
    palette = []
    for rgb, lab, share in zip(centres, centre_lab, shares, strict=True):
        de_c = delta_e2000(lab[None, :], brand_lab)
        j = int(np.argmin(de_c))
        palette.append(
            {
                "hex": _hex(rgb),
                "share": float(share),
                "nearest_brand": brand_colors[j],
                "delta_e": float(de_c[j]),
            }
        )
    presence = []
    per_colour = []
    for j, colour in enumerate(brand_colors):
        candidates = [
            float(delta_e2000(lab, brand_lab[j]))
            for lab, share in zip(centre_lab, shares, strict=True)
            if share >= PRESENT_SHARE
        ]
        # The largest palette share is at least 1/PALETTE_SIZE, so there is a candidate.
        best = min(candidates)
        # Full credit within tolerance, none at 2.5× tolerance.
        p = float(np.clip((2.5 * TOLERANCE - best) / (1.5 * TOLERANCE), 0.0, 1.0))
        presence.append(p)
        per_colour.append({"hex": colour, "best_delta_e": best, "present": p})
    presence_score = float(np.mean(presence))
    score = 0.5 * presence_score + 0.5 * compliance
    return {
        "score": score,
        "raw": {
            "tolerance_delta_e": TOLERANCE,
            "share_within_tolerance": share_within,
            "chromatic_share": chromatic_share,
            "chromatic_compliance": compliance,
            "presence": presence_score,
            "brand_colors": per_colour,
            "palette": palette,
        },
    }
