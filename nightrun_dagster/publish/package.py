"""Builds `publish/<variant_id>/` for an approved variant: formats, caption, checklist, manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.publish.caption import build_caption
from nightrun_dagster.publish.crop import Box, CropDecision, keep_boxes, plan_crop, render_crop
from nightrun_dagster.publish.formats import OutputFormat, formats_for_job
from nightrun_dagster.publish.video import render_video, still_clip, video_size
from nightrun_dagster.store.hashing import sha256_file
from nightrun_dagster.store.publish_docs import (
    PublishManifest,
    package_manifest_bytes,
    package_manifest_path,
    try_read_package_manifest,
)
from nightrun_dagster.store.variant_docs import read_variant_params

PACKAGE_VERSION = 1


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _source(variant: Path, params: dict[str, Any]) -> tuple[Path, Path | None]:
    """The render (image or clip) and, for a clip, its poster."""
    outputs = (params.get("render") or {}).get("outputs") or []
    for out in outputs:
        path = variant / out["file"]
        if path.is_file():
            poster = variant / out["preview"] if out.get("kind") == "video" else None
            if path.suffix == ".mp4":
                poster = poster if poster and poster.is_file() else path.with_suffix(".poster.jpg")
            return path, poster
    images = sorted((variant / "out").glob("img_*.png"))
    videos = sorted((variant / "out").glob("vid_*.mp4"))
    if videos:
        return videos[0], videos[0].with_suffix(".poster.jpg")
    if images:
        return images[0], None
    raise FileNotFoundError(f"no rendered output under {variant / 'out'}")


def _approval_fields(approval: dict[str, Any]) -> tuple[str, str]:
    by = approval.get("by") or approval.get("user") or approval.get("approved_by")
    at = approval.get("at") or approval.get("timestamp") or approval.get("approved_at")
    if not by or not at:
        raise ValueError("approval needs who (`by`) and when (`at`) for the publish log")
    return str(by), str(at)


def reproduction(params: dict[str, Any]) -> dict[str, Any]:
    """params.json minus the per-attempt `render` section, with the keys to re-render up front."""
    rest = {k: v for k, v in params.items() if k != "render"}
    template = params.get("template") or {}
    checkpoints = ((params.get("render") or {}).get("models") or {}).get("checkpoints") or []
    model = template.get("model") or (checkpoints[0] if checkpoints else None)
    return {
        "template": {k: template.get(k) for k in ("id", "version", "sha256")},
        "seed": params.get("seed"),
        "prompt": params.get("prompt"),
        "negative": params.get("negative"),
        "model": model,
        "loras": params.get("loras") or [],
        "params": rest,
    }


def _input_hash(
    job: CreativeJob, params: dict[str, Any], approval: dict[str, Any], sources: list[Path]
) -> str:
    """What the package depends on; equal hashes mean the existing package is still right."""
    data = {
        "package_version": PACKAGE_VERSION,
        "job": job.model_dump(mode="json", by_alias=True),
        "params": params,
        "approval": approval,
        "sources": [sha256_file(p) for p in sources],
    }
    return hashlib.sha256(_canonical(data)).hexdigest()


def _checklist(
    job: CreativeJob,
    variant_id: str,
    formats: list[OutputFormat],
    files: dict[str, dict[str, Any]],
    caption_notes: list[str],
    by: str,
    at: str,
) -> str:
    lines = [
        f"# Manual publish checklist — {job.job_id} / {variant_id}",
        "",
        f"Approved by **{by}** at **{at}**. Caption: `caption.txt` (≤ 2,200 chars, ≤ 30 hashtags).",
    ]
    for note in caption_notes:
        lines.append(f"Caption note: {note}.")
    for fmt in formats:
        info = files[fmt.filename]
        lines += [
            "",
            f"## {fmt.platform.title()} {fmt.placement} ({', '.join(fmt.job_formats)}, {fmt.kind})",
            "",
            f"- [ ] File `{fmt.filename}` — {fmt.width}×{fmt.height}, {info['bytes']} bytes, "
            f"sha256 `{info['sha256'][:12]}…`",
            f"- [ ] Upload: {fmt.upload_where}",
            "- [ ] Paste `caption.txt`; check headline, price/offer, CTA and hashtags read right",
            "- [ ] Preview on the phone: nothing important hidden by the app's UI",
            f"- [ ] Approval on record: {by} at {at}",
            "- [ ] Published at: ____  by: ____  post URL: ____",
        ]
    return "\n".join(lines) + "\n"


def _write_outputs(
    staging: Path, formats: list[OutputFormat], source: Path, poster: Path | None
) -> dict[str, CropDecision]:
    is_video = source.suffix == ".mp4"
    still_path = poster if is_video else source
    if still_path is None or not still_path.is_file():
        raise FileNotFoundError(f"no still to crop from for {source}")
    still = Image.open(still_path).convert("RGB")
    # One OCR/saliency pass on the still; boxes are rescaled to the clip's own size.
    boxes = keep_boxes(still)
    clip_size = video_size(source) if is_video else still.size
    sx, sy = clip_size[0] / still.size[0], clip_size[1] / still.size[1]
    clip_boxes: list[Box] = [b.scaled(sx, sy) for b in boxes]
    decisions: dict[str, CropDecision] = {}
    for fmt in formats:
        dest = staging / fmt.filename
        if fmt.kind == "image":
            decision = plan_crop(still.size, fmt.size, boxes)
            render_crop(still, decision).save(dest, format="PNG", optimize=False)
        elif is_video:
            decision = plan_crop(clip_size, fmt.size, clip_boxes)
            render_video(source, decision, dest)
        else:
            decision = plan_crop(still.size, fmt.size, boxes)
            frame = staging / f".{fmt.filename}.png"
            render_crop(still, decision).save(frame, format="PNG")
            still_clip(frame, dest)
            frame.unlink()
        decisions[fmt.filename] = decision
    return decisions


def build_package(
    job_dir: Path, variant_id: str, job: CreativeJob, *, approval: dict[str, Any]
) -> Path:
    """Write (or reuse) `job_dir/publish/<variant_id>/` and return its path.

    The folder is built under a temporary name and renamed into place, so it is complete or
    absent. If a package built from the same job, params, source files and approval exists,
    it is returned untouched; anything different rebuilds it.
    """
    by, at = _approval_fields(approval)
    variant = job_dir / "variants" / variant_id
    # Plain data: the package's reproduction and input hash are of the file's own keys.
    params = read_variant_params(variant).as_dict()
    source, poster = _source(variant, params)
    sources = [source] + ([poster] if poster and poster.is_file() else [])
    input_sha = _input_hash(job, params, approval, sources)

    publish = job_dir / "publish"
    final = publish / variant_id
    existing = try_read_package_manifest(final)  # None when absent or damaged: rebuilt
    if existing is not None and existing.input_sha256 == input_sha:
        return final

    publish.mkdir(parents=True, exist_ok=True)
    staging = publish / f".{variant_id}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        formats = formats_for_job(job)
        decisions = _write_outputs(staging, formats, source, poster)
        caption = build_caption(job)
        (staging / "caption.txt").write_text(caption.text + "\n", encoding="utf-8")
        files = {
            f.filename: {
                "sha256": sha256_file(staging / f.filename),
                "bytes": (staging / f.filename).stat().st_size,
            }
            for f in formats
        }
        checklist = _checklist(job, variant_id, formats, files, caption.trimmed, by, at)
        (staging / "checklist.md").write_text(checklist, encoding="utf-8")
        for name in ("caption.txt", "checklist.md"):
            files[name] = {
                "sha256": sha256_file(staging / name),
                "bytes": (staging / name).stat().st_size,
            }
        manifest = {
            "package_version": PACKAGE_VERSION,
            "job_id": job.job_id,
            "variant_id": variant_id,
            "night": params.get("night"),
            "input_sha256": input_sha,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": {
                "file": source.relative_to(variant).as_posix(),
                "sha256": sha256_file(source),
                "bytes": source.stat().st_size,
                "poster": poster.relative_to(variant).as_posix()
                if source.suffix == ".mp4" and poster
                else None,
            },
            "formats": [
                {
                    "file": f.filename,
                    "platform": f.platform,
                    "placement": f.placement,
                    "job_formats": list(f.job_formats),
                    "kind": f.kind,
                    "width": f.width,
                    "height": f.height,
                    "upload_where": f.upload_where,
                    "crop": decisions[f.filename].to_json(),
                }
                for f in formats
            ],
            "files": files,
            "caption": {
                "file": "caption.txt",
                "chars": len(caption.text),
                "hashtags": caption.hashtags,
                "trimmed": caption.trimmed,
            },
            "approval": {**approval, "by": by, "at": at},
            "reproduction": reproduction(params),
        }
        package_manifest_path(staging).write_bytes(
            package_manifest_bytes(PublishManifest.model_validate(manifest))
        )
        # Swap: move the stale package aside first so the final name only ever holds a
        # complete folder (or nothing, for the instant between the two renames).
        old = publish / f".{variant_id}.old-{uuid.uuid4().hex[:8]}"
        if final.exists():
            final.rename(old)
        staging.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
