"""Turning a finished prompt into files: outputs, previews, history and completed params."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
from PIL import Image

from nightrun_dagster.comfy.client import ComfyClient, Outcome, OutputFile, safe_filename
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.variant_docs import ComfyHistory, write_comfy_history

PREVIEW_MAX_SIDE = 640
VIDEO_SUFFIXES = {".mp4", ".webm", ".mov", ".gif", ".webp"}


@dataclass(frozen=True)
class Harvested:
    outputs: list[dict[str, Any]]
    bytes: int


def _local_name(index: int, output: OutputFile) -> str:
    suffix = Path(safe_filename(output.filename)).suffix.lower() or ".bin"
    stem = "vid" if suffix in VIDEO_SUFFIXES else "img"
    return f"{stem}_{index:04d}{suffix}"


def _preview_of_image(src: Path, dst: Path) -> None:
    with Image.open(src) as im:
        im = im.convert("RGB")
        im.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
        tmp = dst.with_name(f".{dst.name}.tmp")
        im.save(tmp, "JPEG", quality=82)
        tmp.replace(dst)


def _poster_of_video(src: Path, dst: Path) -> None:
    capture = cv2.VideoCapture(str(src))
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok:
        raise ValueError(f"{src}: no frame could be read for a poster")
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    im = Image.fromarray(rgb)
    im.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
    tmp = dst.with_name(f".{dst.name}.tmp")
    im.save(tmp, "JPEG", quality=82)
    tmp.replace(dst)


async def harvest(
    client: ComfyClient, outcome: Outcome, job_dir: JobDir, variant_id: str
) -> Harvested:
    """Download every file output (only `type: output`; previews in temp are the server's) into
    `out/` under our own names, make a preview or poster for each, write the raw history."""
    out_dir = job_dir.out(variant_id)
    files = [o for o in outcome.outputs if o.type == "output"] or list(outcome.outputs)
    results: list[dict[str, Any]] = []
    total = 0
    for i, output in enumerate(files, start=1):
        name = _local_name(i, output)
        dest = out_dir / name
        size = await client.download(output, dest)
        total += size
        is_video = dest.suffix in VIDEO_SUFFIXES
        preview = dest.with_name(f"{dest.stem}.{'poster' if is_video else 'preview'}.jpg")
        # Image decoding is CPU work: keep the event loop free for the next prompt's frames.
        await asyncio.to_thread(_poster_of_video if is_video else _preview_of_image, dest, preview)
        results.append(
            {
                "file": f"out/{name}",
                "preview": f"out/{preview.name}",
                "bytes": size,
                "kind": "video" if is_video else "image",
                "server": {
                    "filename": output.filename,
                    "subfolder": output.subfolder,
                    "type": output.type,
                    "node": output.node_id,
                },
            }
        )
    write_comfy_history(
        job_dir.variant_dir(variant_id), ComfyHistory.of(outcome.prompt_id, outcome.history)
    )
    return Harvested(results, total)
