"""A variant's render state on disk: what was sent, what came back, whether it is complete.

Order of writes for one render, each atomic: `meta/prompt.json` and `meta/submitted.json`
before the POST (so a killed run knows which prompt id may still be on the server), then the
outputs in `out/`, then `meta/comfy_history.json`, and `meta/params.json` with its `render`
section last: a variant is complete only when that section says "ok" and every file it lists
is there with its recorded size, or was pruned by retention (listed in `meta/retention.json`).
"""

from __future__ import annotations

from nightrun_dagster.store.paths import JobDir, VariantDir
from nightrun_dagster.store.variant_docs import (
    RENDER_KEYS,
    RenderStatus,
    Submitted,
    VariantParams,
    read_params,
    render_status,
    try_read_retention_marker,
    try_read_submitted,
)

__all__ = [
    "RENDER_KEYS",
    "RenderStatus",
    "clear_partial_downloads",
    "is_complete",
    "pruned_outputs",
    "read_params",
    "render_status",
    "submitted_record",
]

# The sidecars' file names, for code that lists a variant's `meta/` folder.
PROMPT = VariantDir.prompt.parts[-1]
SUBMITTED = VariantDir.submitted.parts[-1]
HISTORY = VariantDir.comfy_history.parts[-1]
RETENTION = VariantDir.retention.parts[-1]


def is_complete(job_dir: JobDir, variant_id: str, params: VariantParams | None = None) -> bool:
    """True when the variant's outputs and sidecars are all written."""
    try:
        doc = params if params is not None else read_params(job_dir, variant_id)
    except (OSError, ValueError):
        return False
    render = doc.render
    if render is None or render.status is not RenderStatus.OK or not render.outputs:
        return False
    variant = job_dir.variant_dir(variant_id)
    pruned: set[str] | None = None  # read only when a file is absent: this runs per variant
    for item in render.outputs:
        for key, rel in (("file", item.file), ("preview", item.preview)):
            if rel is None:
                continue
            path = variant.path / rel
            if path.is_file() and (key != "file" or path.stat().st_size == item.bytes):
                continue
            if pruned is None:
                pruned = pruned_outputs(job_dir, variant_id)
            # Retention removed it after a complete render: done, never to be rendered again.
            if rel not in pruned:
                return False
    return variant.comfy_history.is_file()


def pruned_outputs(job_dir: JobDir, variant_id: str) -> set[str]:
    """Output files (relative to the variant folder) that retention removed on purpose."""
    marker = try_read_retention_marker(job_dir.variant_dir(variant_id))
    return set(marker.files) if marker else set()


def submitted_record(job_dir: JobDir, variant_id: str) -> Submitted | None:
    return try_read_submitted(job_dir.variant_dir(variant_id))


def clear_partial_downloads(job_dir: JobDir, variant_id: str) -> int:
    """Remove temporary files a killed run left in `out/` (dot-prefixed; never real outputs)."""
    out = job_dir.out(variant_id)
    removed = 0
    if out.is_dir():
        for p in out.iterdir():
            if p.name.startswith("."):
                p.unlink(missing_ok=True)
                removed += 1
    return removed
