"""A job folder's candidates (rendered and scored variants) and its `selection/shortlisted.json`;
a variant whose picture retention pruned still ranks (recorded pHash) but is never picked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nightrun_dagster.selection.phash import DUPLICATE_DISTANCE, duplicate_groups, phash
from nightrun_dagster.selection.shortlist import Candidate, Shortlist, select, variant_cluster
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.selection_docs import (
    MissingPictures,
    ShortlistDocument,
    ShortlistPick,
    Skipped,
    try_read_shortlist,
    write_shortlist_document,
)
from nightrun_dagster.store.variant_docs import RenderStatus, try_read_params, try_read_score


@dataclass
class Gathered:
    """Candidates, and which of them were ranked without their picture."""

    found: list[Candidate] = field(default_factory=list)
    # Picture gone, pHash remembered: ranked (so clusters, groups and reasons stay the same)
    # but never picked.
    blind: set[str] = field(default_factory=set)
    # Picture gone and no pHash remembered: left out.
    left_out: list[str] = field(default_factory=list)


def _phash_or_none(image: Path) -> int | None:
    if not image.is_file():
        return None
    try:
        return phash(image)
    except (OSError, ValueError):  # not an image any more (PIL's UnidentifiedImageError is one)
        return None


def gather(
    job_dir: JobDir, variant_ids: list[str], known_phashes: Mapping[str, int] | None = None
) -> Gathered:
    """Every variant that rendered and has a score, with its best output. A variant whose
    picture cannot be read takes its pHash from `known_phashes` and is marked blind; without
    one it is left out."""
    known = known_phashes or {}
    result = Gathered()
    for vid in variant_ids:
        variant = job_dir.variant_dir(vid)
        params = try_read_params(variant)
        score = try_read_score(variant)
        if params is None or score is None or params.status is not RenderStatus.OK:
            continue
        best = score.best_output()
        if best is None or best.file is None or params.render is None:
            continue
        rendered = {o.file: o for o in params.render.outputs}
        output = rendered.get(best.file)
        preview = output.preview if output else None
        image_hash = _phash_or_none(variant.path / (preview or best.file))
        if image_hash is None:
            if vid not in known:
                result.left_out.append(vid)
                continue
            image_hash = known[vid]
            result.blind.add(vid)
        planned = params.plan()
        components = {
            name: (c or {}).get("score") if isinstance(c, dict) else None
            for name, c in (best.components or {}).items()
        }
        result.found.append(
            Candidate(
                variant_id=vid,
                file=best.file,
                preview=preview,
                total=float(best.total or 0.0),
                components=components,
                cluster=variant_cluster(
                    int(planned.get("prompt_index", 0)), planned.get("loras", [])
                ),
                phash=image_hash,
            )
        )
    return result


def candidates(
    job_dir: JobDir, variant_ids: list[str], known_phashes: Mapping[str, int] | None = None
) -> list[Candidate]:
    """Every variant that rendered and has a score, with its best output (see `gather`)."""
    return gather(job_dir, variant_ids, known_phashes).found


def _select_seeing(gathered: Gathered, k: int, n: int) -> tuple[Shortlist, list[str]]:
    """select() until no pick is blind: a blind pick (possible only when k or n differ from the
    shortlist retention protected) is dropped from the candidates and the rest selected again.
    Returns the selection and the dropped ids."""
    found = gathered.found
    groups = duplicate_groups([c.phash for c in found], DUPLICATE_DISTANCE)
    dropped: list[str] = []
    while True:
        result = select(found, groups, k=k, n=n)
        blind = {p.candidate.variant_id for p in result.picks} & gathered.blind
        if not blind:
            return result, dropped
        dropped += sorted(blind)
        keep = [i for i, c in enumerate(found) if c.variant_id not in blind]
        found, groups = [found[i] for i in keep], [groups[i] for i in keep]


def write_shortlist(
    job_dir: JobDir, night: str, job_id: str, job_key: str, variant_ids: list[str], k: int, n: int
) -> tuple[Shortlist, ShortlistDocument]:
    """Select and write `selection/shortlisted.json`; returns the selection and the document.
    The document records every candidate's pHash, so a later run still ranks variants whose
    pictures retention pruned exactly as this one did."""
    before = try_read_shortlist(job_dir)
    gathered = gather(job_dir, variant_ids, before.recorded_phashes() if before else None)
    result, dropped = _select_seeing(gathered, k, n)
    ranked = [c for c in gathered.found if c.variant_id not in dropped]
    doc = ShortlistDocument(
        night=night,
        job_id=job_id,
        job_key=job_key,
        k=k,
        n=n,
        duplicate_distance=DUPLICATE_DISTANCE,
        variants=len(variant_ids),
        candidates=len(ranked),
        picks=[
            ShortlistPick(
                rank=p.rank,
                variant_id=p.candidate.variant_id,
                file=p.candidate.file,
                preview=p.candidate.preview,
                total=round(p.candidate.total, 4),
                cluster=p.candidate.cluster,
                dup_group=p.dup_group,
                components=p.candidate.components,
                reason=p.reason,
            )
            for p in result.picks
        ],
        clusters=result.clusters,
        duplicate_groups={g: ids for g, ids in result.dup_groups.items() if len(ids) > 1},
        skipped=Skipped(
            cluster_full=result.skipped_full_cluster, near_duplicate=result.skipped_duplicate
        ),
        # Variants whose picture is gone: ranked from the recorded pHash, or left out of the
        # candidates (no pHash on record, or it would have been picked).
        missing_pictures=MissingPictures(
            ranked=sorted(gathered.blind - set(dropped)),
            left_out=sorted([*gathered.left_out, *dropped]),
        ),
        phashes={c.variant_id: f"{c.phash:016x}" for c in gathered.found},
        selected_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    write_shortlist_document(job_dir, doc)
    return result, doc
