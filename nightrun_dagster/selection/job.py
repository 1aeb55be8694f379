"""A job folder's candidates (rendered and scored variants) and its `selection/shortlisted.json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightrun_dagster.selection.phash import DUPLICATE_DISTANCE, duplicate_groups, phash
from nightrun_dagster.selection.shortlist import Candidate, Shortlist, select, variant_cluster
from nightrun_dagster.store.atomic import atomic_write_json
from nightrun_dagster.store.paths import JobDir

SHORTLIST_FILE = "shortlisted.json"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def candidates(job_dir: JobDir, variant_ids: list[str]) -> list[Candidate]:
    """Every variant that rendered and has a score, with its best output."""
    found = []
    for vid in variant_ids:
        params = _read(job_dir.params(vid))
        score = _read(job_dir.meta(vid) / "score.json")
        if not params or not score or (params.get("render") or {}).get("status") != "ok":
            continue
        best = score["outputs"][score.get("best", 0)]
        rendered = {o["file"]: o for o in params["render"]["outputs"]}
        preview = (rendered.get(best["file"]) or {}).get("preview")
        image = job_dir.variant(vid) / (preview or best["file"])
        components = {
            name: (c or {}).get("score") if isinstance(c, dict) else None
            for name, c in best["components"].items()
        }
        found.append(
            Candidate(
                variant_id=vid,
                file=best["file"],
                preview=preview,
                total=float(best["total"]),
                components=components,
                cluster=variant_cluster(
                    int(params.get("prompt_index", 0)), params.get("loras", [])
                ),
                phash=phash(image),
            )
        )
    return found


def write_shortlist(
    job_dir: JobDir, night: str, job_id: str, job_key: str, variant_ids: list[str], k: int, n: int
) -> tuple[Shortlist, dict[str, Any]]:
    """Select and write `selection/shortlisted.json`; returns the selection and the document."""
    found = candidates(job_dir, variant_ids)
    groups = duplicate_groups([c.phash for c in found], DUPLICATE_DISTANCE)
    result = select(found, groups, k=k, n=n)
    doc = {
        "night": night,
        "job_id": job_id,
        "job_key": job_key,
        "k": k,
        "n": n,
        "duplicate_distance": DUPLICATE_DISTANCE,
        "variants": len(variant_ids),
        "candidates": len(found),
        "picks": [
            {
                "rank": p.rank,
                "variant_id": p.candidate.variant_id,
                "file": p.candidate.file,
                "preview": p.candidate.preview,
                "total": round(p.candidate.total, 4),
                "cluster": p.candidate.cluster,
                "dup_group": p.dup_group,
                "components": p.candidate.components,
                "reason": p.reason,
            }
            for p in result.picks
        ],
        "clusters": result.clusters,
        "duplicate_groups": {g: ids for g, ids in result.dup_groups.items() if len(ids) > 1},
        "skipped": {
            "cluster_full": result.skipped_full_cluster,
            "near_duplicate": result.skipped_duplicate,
        },
        "selected_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_json(job_dir.selection / SHORTLIST_FILE, doc)
    return result, doc
