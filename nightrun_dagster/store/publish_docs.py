"""A job's manifests: `inputs/manifest.json` (the job file and assets the night copied) and
`publish/<variant>/manifest.json` (what a publish package holds and what built it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from nightrun_dagster.store.models import DocumentAt, JobDocument
from nightrun_dagster.store.paths import JobDir, as_job_dir

MANIFEST = "manifest.json"


class InputsManifest(JobDocument):
    """`inputs/manifest.json`: the job file's copy and every asset copied beside it."""

    job_file: dict[str, Any] = Field(default_factory=dict)
    template: dict[str, Any] = Field(default_factory=dict)
    assets: list[dict[str, Any]] = Field(default_factory=list)


class PublishManifest(JobDocument):
    """`publish/<variant>/manifest.json`: the package's files, caption, approval and how to
    render it again; `input_sha256` names what built it (the same inputs reuse it)."""

    package_version: int | None = None
    variant_id: str | None = None
    input_sha256: str | None = None
    built_at: str | None = None


INPUTS_MANIFEST = DocumentAt[InputsManifest, JobDir | Path](
    InputsManifest, lambda where: as_job_dir(where).inputs_manifest
)
write_inputs_manifest = INPUTS_MANIFEST.write
try_read_inputs_manifest = INPUTS_MANIFEST.try_read


def package_manifest_path(package: Path) -> Path:
    """The manifest of the package folder `package` (final or still being built)."""
    return Path(package) / MANIFEST


PUBLISH_MANIFEST = DocumentAt[PublishManifest, Path](PublishManifest, package_manifest_path)
try_read_package_manifest = PUBLISH_MANIFEST.try_read  # given the package folder
# The file's bytes: the package folder is built whole and renamed into place.
package_manifest_bytes = PUBLISH_MANIFEST.file.bytes
