"""Temporal stability of a video: brightness flicker, globally and per region."""

from __future__ import annotations

from typing import Any

import numpy as np

GRID = 6  # regions per side for local flicker
# Flicker (grey levels of frame-to-frame brightness reversal) at which the score halves.
FLICKER_HALF = 2.0


def _reversal(series: np.ndarray) -> np.ndarray:
    """Mean |second difference| / 4 along axis 0: a brightness that alternates by ±f each
    frame gives f; steady motion and slow fades give about 0."""
    if series.shape[0] < 3:
        return np.zeros(series.shape[1:], np.float32)
    second = series[2:] - 2 * series[1:-1] + series[:-2]
    return np.abs(second).mean(axis=0) / 4.0


def temporal(small: np.ndarray) -> dict[str, Any]:
    """{"score", "raw"} from every frame, small and grey: (n, h, w) float32."""
    n, h, w = small.shape
    global_flicker = float(_reversal(small.mean(axis=(1, 2))[:, None])[0])
    gh, gw = max(1, h // GRID), max(1, w // GRID)
    blocks = small[:, : gh * GRID, : gw * GRID].reshape(n, GRID, gh, GRID, gw).mean(axis=(2, 4))
    local = _reversal(blocks.reshape(n, -1))
    # The 90th percentile: one blinking region is enough to spoil a reel.
    local_flicker = float(np.percentile(local, 90)) if local.size else 0.0
    motion = float(np.abs(np.diff(small, axis=0)).mean()) if n > 1 else 0.0
    flicker = max(global_flicker, local_flicker)
    score = 1.0 / (1.0 + (flicker / FLICKER_HALF) ** 2)
    return {
        "score": float(score),
        "raw": {
            "frames": int(n),
            "flicker": global_flicker,
            "local_flicker_p90": local_flicker,
            "mean_abs_frame_diff": motion,
        },
    }
