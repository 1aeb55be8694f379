"""ffmpeg/ffprobe helpers: apply a crop decision to a clip, make a still clip, probe streams."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from nightrun_dagster.publish.crop import CropDecision

# Publish-grade H.264 that every phone and Meta's ingest accept; faststart for progressive play.
_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]
_MP4 = ["-movflags", "+faststart"]


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's JSON for the file's streams and format."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def video_size(path: Path) -> tuple[int, int]:
    stream = next(s for s in probe(path)["streams"] if s.get("codec_type") == "video")
    return int(stream["width"]), int(stream["height"])


def _even(n: int) -> int:
    # yuv420p needs even dimensions.
    return max(2, n - n % 2)


def decision_filter(decision: CropDecision) -> str:
    """The -filter_complex graph that reproduces `render_crop` on every frame ([v] out)."""
    x0, y0, x1, y1 = decision.window
    tw, th = decision.target_size
    crop = f"crop={x1 - x0}:{y1 - y0}:{x0}:{y0}"
    if not decision.padded:
        return f"[0:v]{crop},scale={tw}:{th}:flags=lanczos,setsar=1,format=yuv420p[v]"
    pw, ph = (_even(n) for n in decision.placed_size)
    px, py = (tw - pw) // 2, (th - ph) // 2
    blur = max(2, round(max(tw, th) / 30))
    return (
        f"[0:v]split[a][b];"
        f"[a]scale={tw}:{th}:force_original_aspect_ratio=increase,crop={tw}:{th},"
        f"gblur=sigma={blur},eq=brightness=-0.06[bg];"
        f"[b]{crop},scale={pw}:{ph}:flags=lanczos[fg];"
        f"[bg][fg]overlay={px}:{py},setsar=1,format=yuv420p[v]"
    )


def render_video(source: Path, decision: CropDecision, dest: Path) -> None:
    """Crop/pad a clip to the decision's exact size; audio, if any, is re-encoded to AAC."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source)]
    cmd += ["-filter_complex", decision_filter(decision), "-map", "[v]", "-map", "0:a?"]
    cmd += [*_X264, "-c:a", "aac", *_MP4, str(dest)]
    subprocess.run(cmd, check=True, capture_output=True)


def still_clip(image: Path, dest: Path, seconds: float = 6.0, fps: int = 30) -> None:
    """A silent clip of one still, for a reel placement on an image job."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-loop", "1", "-framerate", str(fps)]
    cmd += ["-i", str(image), "-t", f"{seconds}", "-vf", "format=yuv420p"]
    cmd += [*_X264, "-tune", "stillimage", *_MP4, str(dest)]
    subprocess.run(cmd, check=True, capture_output=True)
