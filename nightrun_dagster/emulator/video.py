"""MP4 (H.264) and WebM (VP9, AV1) from raw frames, through an `ffmpeg` subprocess reading stdin."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

# What SaveVideo (h264 in MP4) and SaveWEBM (vp9 / av1 in WebM) ask PyAV for, as ffmpeg flags.
_CODECS: dict[str, list[str]] = {
    "h264": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    "vp9": ["-c:v", "libvpx-vp9", "-b:v", "0", "-deadline", "realtime", "-pix_fmt", "yuv420p"],
    "av1": ["-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", "yuv420p10le"],
}


def encode_mp4(
    frames: np.ndarray, fps: float, dest: Path, metadata: dict[str, Any] | None = None
) -> None:
    """Write `frames` (n, h, w, 3) uint8 to `dest` as H.264 in MP4."""
    encode_video(frames, fps, dest, metadata, "h264")


def encode_video(
    frames: np.ndarray,
    fps: float,
    dest: Path,
    metadata: dict[str, Any] | None = None,
    codec: str = "h264",
    crf: float | None = None,
) -> None:
    """Write `frames` (n, h, w, 3) uint8 to `dest` via a temporary sibling."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg is not on PATH; saving a video needs it")
    # yuv420p needs even sides.
    h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    data = np.ascontiguousarray(frames[:, :h, :w, :])
    tmp = dest.with_name(f".{dest.stem}.part{dest.suffix}")
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
        *_CODECS[codec],
        *(["-crf", f"{crf:g}"] if crf is not None else []),
        "-threads",
        "2",
    ]
    if dest.suffix == ".mp4":
        cmd += ["-movflags", "+faststart+use_metadata_tags"]
    for key, value in (metadata or {}).items():
        cmd += ["-metadata", f"{key}={json.dumps(value)}"]
    cmd.append(str(tmp))
    result = subprocess.run(cmd, input=data.tobytes(), capture_output=True, check=False)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg failed: {result.stderr.decode(errors='replace')[-400:]}")
    tmp.replace(dest)
