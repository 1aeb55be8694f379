"""A variant's render state on disk: what was sent, what came back, whether it is complete.

Order of writes for one render, each atomic: `meta/prompt.json` and `meta/submitted.json`
before the POST (so a killed run knows which prompt id may still be on the server), then the
outputs in `out/`, then `meta/comfy_history.json`, and `meta/params.json` with its `render`
section last: a variant is complete only when that section says "ok" and every file it lists
is there with its recorded size, or was pruned by retention (listed in `meta/retention.json`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from nightrun_dagster.store.documents import read_json
from nightrun_dagster.store.paths import JobDir

PROMPT = "prompt.json"
SUBMITTED = "submitted.json"
# Keys the render loop adds to params.json; everything else is the plan.
RENDER_KEYS = frozenset({"render", "server", "gpu"})
HISTORY = "comfy_history.json"
RETENTION = "retention.json"


class RenderStatus(StrEnum):
    """`render.status` in params.json: the render loop writes it, everything after reads it."""

    OK = "ok"
    FAILED = "failed"


def render_status(params: object) -> RenderStatus | None:
    """What params.json says of the variant's render; None: not rendered yet (or unreadable)."""
    render = params.get("render") if isinstance(params, dict) else None
    status = render.get("status") if isinstance(render, dict) else None
    try:
        return RenderStatus(status) if isinstance(status, str) else None
    except ValueError:
        return None


def read_params(job_dir: JobDir, variant_id: str) -> dict[str, Any]:
    return read_json(job_dir.params(variant_id))


def is_complete(job_dir: JobDir, variant_id: str, params: dict[str, Any] | None = None) -> bool:
    """True when the variant's outputs and sidecars are all written."""
    try:
        doc = params if params is not None else read_params(job_dir, variant_id)
    except (OSError, ValueError):
        return False
    render = doc.get("render") or {}
    if render.get("status") != RenderStatus.OK or not render.get("outputs"):
        return False
    base = job_dir.variant(variant_id)
    pruned: set[str] | None = None  # read only when a file is absent: this runs per variant
    for item in render["outputs"]:
        for key in ("file", "preview"):
            rel = item.get(key)
            if rel is None:
                continue
            path = base / rel
            if path.is_file() and (key != "file" or path.stat().st_size == item.get("bytes")):
                continue
            if pruned is None:
                pruned = pruned_outputs(job_dir, variant_id)
            # Retention removed it after a complete render: done, never to be rendered again.
            if rel not in pruned:
                return False
    return (job_dir.meta(variant_id) / HISTORY).is_file()


def pruned_outputs(job_dir: JobDir, variant_id: str) -> set[str]:
    """Output files (relative to the variant folder) that retention removed on purpose."""
    try:
        doc = read_json(job_dir.meta(variant_id) / RETENTION)
    except (OSError, ValueError):
        return set()
    files = doc.get("files") if isinstance(doc, dict) else None
    return {f for f in files if isinstance(f, str)} if isinstance(files, dict) else set()


def submitted_record(job_dir: JobDir, variant_id: str) -> dict[str, Any] | None:
    path = job_dir.meta(variant_id) / SUBMITTED
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


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
