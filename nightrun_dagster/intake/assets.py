"""Where a job file's asset paths point when it is checked by hand (`validate`, `expand`,
`score`): one rule for every command."""

from __future__ import annotations

import json
from pathlib import Path

from nightrun_dagster.creative_job.checks import relative_path_problem

ASSETS_DIR = "assets"
_ASSET_LISTS = ("product_images", "base_ui_screens", "masks", "style_refs")


def listed_assets(job_file: Path) -> list[str]:
    """The relative asset paths a job file lists; best effort (a file that cannot be read or
    parsed lists none: validation reports that, with its reason)."""
    try:
        doc = json.loads(job_file.read_bytes())
        assets = doc["assets"]
        paths = [p for name in _ASSET_LISTS for p in assets.get(name) or []]
        if assets.get("logo") is not None:
            paths.append(assets["logo"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    return [p for p in paths if isinstance(p, str) and relative_path_problem(p) is None]


def asset_root_candidates(job_file: Path, root: Path) -> list[Path]:
    """Where to look, in order: `assets/` beside the job file (job_specs/, a night's inputs/),
    the job file's own folder, then `<root>/assets`."""
    return [job_file.parent / ASSETS_DIR, job_file.parent, root / ASSETS_DIR]


def assets_root_for(job_file: Path, root: Path, explicit: Path | None = None) -> Path:
    """`explicit` (--assets-root) when given; else the first candidate that holds every asset
    the job lists; else `assets/` beside the job file if there is one (its errors are then
    reported against the folder the job was written for), else `<root>/assets`."""
    if explicit is not None:
        return explicit
    wanted = listed_assets(job_file)
    candidates = asset_root_candidates(job_file, root)
    for folder in candidates:
        if folder.is_dir() and all((folder / p).is_file() for p in wanted):
            return folder
    beside = candidates[0]
    return beside if beside.is_dir() else candidates[-1]
