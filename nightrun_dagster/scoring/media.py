"""Reading outputs: file hashes, images as RGB arrays, sampled video frames."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"})
# Small grey frames are enough to see brightness pumping, and cheap to keep for every frame.
TEMPORAL_WIDTH = 96
MAX_VIDEO_FRAMES = 2000


class UnreadableMedia(ValueError):
    """The file is missing, empty, or not an image or video we can decode."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise UnreadableMedia(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def load_image(path: Path) -> np.ndarray:
    """(h, w, 3) uint8 RGB; transparency is flattened onto white, 16-bit scaled to 8."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        # OpenCV lacks some formats (GIF); Pillow reads those.
        try:
            with Image.open(path) as pil:
                return np.asarray(pil.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise UnreadableMedia(f"{path}: not an image we can read") from exc
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        bgr = img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return cv2.cvtColor(bgr.astype(np.uint8), cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def load_grey(path: Path) -> np.ndarray:
    """(h, w) uint8, for masks."""
    img = load_image(path)
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


@dataclass(frozen=True)
class VideoSample:
    """Evenly spaced full frames for the per-image checks, plus every frame small and grey
    for the temporal checks."""

    frames: list[np.ndarray]  # RGB uint8
    indices: list[int]
    small: np.ndarray  # (n, h, TEMPORAL_WIDTH) float32 grey
    frame_count: int
    fps: float


def sample_indices(count: int, k: int) -> list[int]:
    """`k` frames spread over `count`, avoiding the very first and last (fades, black)."""
    if count <= 0:
        return []
    if count <= k:
        return list(range(count))
    return sorted({round((i + 0.5) * count / k - 0.5) for i in range(k)})


def read_video(path: Path, k: int = 4) -> VideoSample:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise UnreadableMedia(f"{path}: not a video we can read")
        estimate = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        wanted = set(sample_indices(estimate, k))
        kept: dict[int, np.ndarray] = {}
        small: list[np.ndarray] = []
        stride = 1
        index = 0
        while index < MAX_VIDEO_FRAMES:
            ok, bgr = cap.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            sh = max(1, round(h * TEMPORAL_WIDTH / w))
            small.append(cv2.resize(grey, (TEMPORAL_WIDTH, sh), interpolation=cv2.INTER_AREA))
            if index in wanted or (not wanted and index % stride == 0):
                kept[index] = bgr
            if not wanted and len(kept) > 4 * k:
                # No usable frame count: thin the kept frames as the video goes on.
                stride *= 2
                kept = {i: f for i, f in kept.items() if i % stride == 0}
            index += 1
    finally:
        cap.release()
    if not small or not kept:
        raise UnreadableMedia(f"{path}: no frames could be decoded")
    if not wanted:
        chosen = sorted(kept)
        picks = {chosen[round(j)] for j in np.linspace(0, len(chosen) - 1, min(k, len(chosen)))}
        kept = {i: kept[i] for i in picks}
    order = sorted(kept)
    return VideoSample(
        frames=[cv2.cvtColor(kept[i], cv2.COLOR_BGR2RGB) for i in order],
        indices=order,
        small=np.stack(small).astype(np.float32),
        frame_count=index,
        fps=fps,
    )
