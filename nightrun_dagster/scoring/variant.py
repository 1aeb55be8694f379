"""A variant's `meta/score.json`: every output scored, the best one named, written once; a
variant whose outputs retention pruned keeps the score it had."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightrun_dagster.scoring.context import ScoreContext
from nightrun_dagster.scoring.media import UnreadableMedia, file_sha256
from nightrun_dagster.scoring.ocr import PREP_VERSION
from nightrun_dagster.scoring.ocr_cache import OcrCache
from nightrun_dagster.scoring.score import SCORER_VERSION, error_document, score_files
from nightrun_dagster.store.models import document_data, dump_document
from nightrun_dagster.store.variant_docs import (
    RenderStatus,
    ScoreDocument,
    try_read_params,
    try_read_retention_marker,
    try_read_score,
    write_score,
)

SCORE_DOC_VERSION = 1


def rendered_outputs(variant_dir: Path) -> list[str] | None:
    """The output files (relative to the variant folder) of a variant rendered ok, or None."""
    params = try_read_params(variant_dir)
    if params is None or params.render is None or params.status is not RenderStatus.OK:
        return None
    files = [o.file for o in params.render.outputs if o.file]
    # An output path that leaves the variant folder is not ours to read.
    root = variant_dir.resolve()
    inside = [f for f in files if (root / f).resolve().is_relative_to(root)]
    return inside or None


def pruned_files(variant_dir: Path, files: Sequence[str]) -> list[str]:
    """Those of `files` that retention removed on purpose (listed in `meta/retention.json` and
    absent): their pixels are gone for good, so no score can be made from them any more."""
    marker = try_read_retention_marker(variant_dir)
    if marker is None:
        return []
    return [f for f in files if f in marker.files and not (variant_dir / f).is_file()]


def _variant_id(variant_dir: Path) -> str:
    params = try_read_params(variant_dir)
    return params.variant_id if params and params.variant_id else variant_dir.name


def inputs_sha256(output_hashes: Sequence[str | None], ctx_fingerprint: str) -> str:
    """What a score depends on: the outputs' bytes, the context (tokens, colours, UI base and
    the weights) and the scorer's and OCR preprocessing's versions."""
    doc = {
        "outputs": list(output_hashes),
        "context": ctx_fingerprint,
        "scorer_version": SCORER_VERSION,
        "ocr_prep_version": PREP_VERSION,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _hash_or_none(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except UnreadableMedia:
        return None


def score_variants_batch(
    variant_dirs: Sequence[Path],
    ctx: ScoreContext,
    *,
    force: bool = False,
    ocr_cache: OcrCache | None = None,
    ocr: bool = True,
) -> list[dict[str, Any] | None]:
    """score_variant for several variants, their text read in one tesseract call (loading
    tesseract's languages costs more than reading a page). A variant with outputs retention
    pruned is never scored again: its existing score.json is returned unchanged (None when it
    has none)."""
    fingerprint = ctx.fingerprint()
    results: list[dict[str, Any] | None] = [None] * len(variant_dirs)
    todo: list[tuple[int, Path, list[str], list[str | None], str]] = []
    for i, vdir in enumerate(variant_dirs):
        vdir = Path(vdir)
        files = rendered_outputs(vdir)
        if files is None:
            continue
        existing = try_read_score(vdir)
        if pruned_files(vdir, files):
            # Scoring again would turn the pruned outputs into zeros ("missing"); the score made
            # while they were there stands, even when forced. Never scored: nothing to keep.
            results[i] = document_data(existing) if existing else None
            continue
        hashes = [_hash_or_none(vdir / f) for f in files]
        key = inputs_sha256(hashes, fingerprint)
        if (
            not force
            and existing is not None
            and existing.inputs_sha256 == key
            and existing.score_version == SCORE_DOC_VERSION
        ):
            results[i] = document_data(existing)
            continue
        todo.append((i, vdir, files, hashes, key))
    readable: list[tuple[Path, str]] = [
        (vdir / f, h)
        for _, vdir, files, hashes, _ in todo
        for f, h in zip(files, hashes, strict=True)
        if h is not None
    ]
    scored = iter(
        score_files(
            [p for p, _ in readable],
            ctx,
            ocr_cache=ocr_cache,
            ocr=ocr,
            hashes=[h for _, h in readable],
            record_errors=True,
        )
    )
    docs_by_path = {path: next(scored) for path, _ in readable}
    for i, vdir, files, _hashes, key in todo:
        outputs = []
        for f in files:
            doc = docs_by_path.get(vdir / f) or error_document(vdir / f, "output file missing")
            outputs.append({**doc, "file": f})
        best = max(range(len(outputs)), key=lambda j: outputs[j]["total"])
        document = ScoreDocument.model_validate(
            {
                "score_version": SCORE_DOC_VERSION,
                "variant_id": _variant_id(vdir),
                "outputs": outputs,
                "total": outputs[best]["total"],
                "best": best,
                "scored_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "inputs_sha256": key,
                "scorer_version": SCORER_VERSION,
            }
        )
        write_score(vdir, document)
        results[i] = dump_document(document)
    return results


def score_variant(
    variant_dir: Path,
    ctx: ScoreContext,
    *,
    force: bool = False,
    ocr_cache: OcrCache | None = None,
) -> dict[str, Any] | None:
    """Score every output of a variant rendered ok and write `meta/score.json` atomically;
    None for a variant not rendered ok. An existing score.json with the same inputs_sha256
    (same output bytes, context, weights, scorer version) is returned untouched unless
    `force`. Once retention pruned outputs of the variant, its score.json is returned untouched
    whatever `force` says (None when it was never scored)."""
    return score_variants_batch([variant_dir], ctx, force=force, ocr_cache=ocr_cache)[0]
