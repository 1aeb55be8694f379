"""The job's input snapshot: the validated job file and its assets, each with a SHA-256."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightrun_dagster.intake.planned import graph_input_paths
from nightrun_dagster.intake.validate import Intake, ValidJob, validate_bytes
from nightrun_dagster.store.atomic import atomic_copy, atomic_write_bytes
from nightrun_dagster.store.hashing import sha256_file
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.publish_docs import InputsManifest, write_inputs_manifest


@dataclass(frozen=True)
class InputFile:
    field: str
    source: str
    stored: str  # path relative to inputs/
    sha256: str
    bytes: int


def asset_fields(found: ValidJob) -> list[tuple[str, str]]:
    """(field, relative path) of every asset the job references, in document order."""
    a = found.job.assets
    out = [(f"assets.product_images[{i}]", p) for i, p in enumerate(a.product_images)]
    for name in ("base_ui_screens", "masks", "style_refs"):
        out += [(f"assets.{name}[{i}]", p) for i, p in enumerate(getattr(a, name) or [])]
    if a.logo is not None:
        out.append(("assets.logo", a.logo))
    return out


def snapshot_inputs(found: ValidJob, assets_root: Path, job_dir: JobDir) -> dict[str, Any]:
    """Copy the job file and its assets into `inputs/` (same relative paths, atomic writes)
    and write `inputs/manifest.json`. Returns the manifest."""
    atomic_write_bytes(job_dir.job_snapshot, found.raw)
    files: list[InputFile] = []
    for field_name, rel in asset_fields(found):
        src = assets_root / rel
        dst = job_dir.inputs / "assets" / rel
        digest = sha256_file(src)
        if not (dst.is_file() and sha256_file(dst) == digest):
            atomic_copy(src, dst)
        files.append(
            InputFile(
                field_name, rel, str(dst.relative_to(job_dir.inputs)), digest, dst.stat().st_size
            )
        )
    manifest = {
        "job_id": found.job.job_id,
        "job_key": found.key,
        "job_file": {"source": found.source.name, "stored": "job.json", "sha256": found.sha256},
        "template": {
            "id": found.template.template_id,
            "version": found.template.version,
            "sha256": found.template.sha256,
        },
        "assets": [f.__dict__ for f in files],
    }
    write_inputs_manifest(job_dir, InputsManifest.model_validate(manifest))
    return manifest


def load_snapshot(job_dir: JobDir, base: Intake) -> ValidJob:
    """The job as `job_spec` snapshotted it, validated against its own copied assets, so a
    night no longer depends on the queue or the assets folder once planned."""
    intake = Intake(job_dir.inputs / "assets", base.workflows_dir, base.limits)
    return validate_bytes(job_dir.job_snapshot.read_bytes(), job_dir.job_snapshot, intake)


def graph_inputs(found: ValidJob, job_dir: JobDir) -> dict[str, Path]:
    """Job assets the template loads on the server (LoadImage): job path -> snapshot copy."""
    return {rel: job_dir.inputs / "assets" / rel for rel in graph_input_paths(found)}
