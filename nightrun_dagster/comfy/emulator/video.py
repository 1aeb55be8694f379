"""MP4 (H.264, yuv420p) from raw frames, through an `ffmpeg` subprocess reading stdin."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np


def encode_mp4(
    frames: np.ndarray, fps: float, dest: Path, metadata: dict[str, Any] | None = None
) -> None:
    """Write `frames` (n, h, w, 3) uint8 to `dest` via a temporary sibling."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg is not on PATH; SaveVideo needs it")
    # yuv420p needs even sides.
    h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    data = np.ascontiguousarray(frames[:, :h, :w, :])
    tmp = dest.with_name(f".{dest.stem}.part.mp4")
    cmd = [
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{w}x{h}",
        "-r",
        f"{fps:g}",
        "-i",
        "-",
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-threads",
        "2",
        "-movflags",
        "+faststart+use_metadata_tags",
    ]
    for key, value in (metadata or {}).items():
        cmd += ["-metadata", f"{key}={json.dumps(value)}"]
    cmd.append(str(tmp))
    result = subprocess.run(cmd, input=data.tobytes(), capture_output=True, check=False)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg failed: {result.stderr.decode(errors='replace')[-400:]}")
    tmp.replace(dest)
