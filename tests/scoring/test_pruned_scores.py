"""Scoring a night again after retention pruned its losers: their score.json stays as it was."""

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.retention import apply_retention, plan_retention
from nightrun_dagster.scoring.pool import score_variants
from nightrun_dagster.scoring.synthetic import COPIES, AdStyle, build_ad, save_png
from nightrun_dagster.scoring.variant import pruned_files, score_variants_batch
from nightrun_dagster.store.atomic import atomic_write_json
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.variant_state import is_complete

COPY = COPIES[1]
NIGHT = "2026-02-02"
TODAY = date(2026, 3, 2)  # four weeks later: the night is well past the 7 days kept
# Different defects, so every variant scores differently and the ranking is clear.
STYLES = {
    "v0001": AdStyle(width=270, height=338, seed=1),
    "v0002": AdStyle(width=270, height=338, seed=2, blur=2.0),
    "v0003": AdStyle(width=270, height=338, seed=3, noise=14),
    "v0004": AdStyle(width=270, height=338, seed=4, blur=3.5, noise=20),
    "v0005": AdStyle(width=270, height=338, seed=5, specks=0.02),  # rendered, never scored
}
SCORED = ["v0001", "v0002", "v0003", "v0004"]


@pytest.fixture
def job_dir(tmp_path: Path) -> JobDir:
    """A job of an old night: five real renders, the first four scored."""
    jd = Tree(tmp_path / "night-runs").job(NIGHT, "promo")
    for vid, style in STYLES.items():
        image = save_png(build_ad(COPY, style), jd.out(vid) / "img_0001.png")
        atomic_write_json(jd.meta(vid) / "comfy_history.json", {vid: {"status": {}}})
        output = {"file": "out/img_0001.png", "bytes": image.stat().st_size, "kind": "image"}
        atomic_write_json(
            jd.params(vid),
            {"variant_id": vid, "render": {"status": "ok", "outputs": [output]}},
        )
    atomic_write_json(jd.variants_index, {"variants": list(STYLES), "count": len(STYLES)})
    return jd


def _ctx(gt: Any) -> Any:
    return gt.ctx_for(COPY)


def _score_bytes(jd: JobDir) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for vid in STYLES:
        path = jd.meta(vid) / "score.json"
        out[vid] = path.read_bytes() if path.is_file() else None
    return out


def _prune(jd: JobDir) -> set[str]:
    root = jd.path.parents[2]
    report = apply_retention(plan_retention(root, TODAY, keep_top_k=1), dry_run=False)
    return {p.parts[-3] for p in report.deleted}


def test_pruned_variants_keep_their_score_json_when_scored_again(job_dir: JobDir, gt: Any) -> None:
    dirs = [job_dir.variant(v) for v in STYLES]
    first = score_variants_batch(dirs[:4], _ctx(gt), ocr=False)
    totals = {v: doc["total"] for v, doc in zip(SCORED, first, strict=True)}
    best = max(totals, key=lambda v: totals[v])
    before = _score_bytes(job_dir)
    assert before["v0005"] is None and all(before[v] for v in SCORED)

    pruned = _prune(job_dir)
    assert pruned == set(STYLES) - {best}  # the unscored one ranks last, so it goes too
    for vid in pruned:
        assert not (job_dir.out(vid) / "img_0001.png").exists()
        assert pruned_files(job_dir.variant(vid), ["out/img_0001.png"]) == ["out/img_0001.png"]
        assert is_complete(job_dir, vid)

    # The scores asset scores every rendered variant of the job, now and forced.
    again = score_variants_batch(dirs, _ctx(gt), ocr=False)
    forced = score_variants(dirs, _ctx(gt), workers=1, force=True, ocr=False)
    after = _score_bytes(job_dir)
    for vid, doc, forced_doc in zip(STYLES, again, forced, strict=True):
        if vid == "v0005":
            # Never scored and its pixels are gone: no score is made up for it.
            assert doc is None and forced_doc is None and after[vid] is None
        elif vid in pruned:
            assert after[vid] == before[vid], f"{vid}: score.json rewritten after pruning"
            assert doc == forced_doc == json.loads(before[vid])
            assert doc["total"] == totals[vid] > 0
            assert all(not o.get("error") for o in doc["outputs"])
    # The kept variant still has its pixels: forcing scores it again, to the same total.
    kept = forced[list(STYLES).index(best)]
    assert kept["total"] == totals[best] and not kept["outputs"][0].get("error")


def test_a_restored_output_is_scored_again(job_dir: JobDir, gt: Any, tmp_path: Path) -> None:
    dirs = [job_dir.variant(v) for v in SCORED]
    score_variants_batch(dirs, _ctx(gt), ocr=False)
    saved = {v: (job_dir.out(v) / "img_0001.png").read_bytes() for v in SCORED}
    pruned = _prune(job_dir) & set(SCORED)
    vid = sorted(pruned)[0]
    stale = {"stale": True}
    atomic_write_json(job_dir.meta(vid) / "score.json", stale)

    # Whatever score.json holds is kept while the pixels are gone …
    assert score_variants_batch([job_dir.variant(vid)], _ctx(gt), force=True, ocr=False) == [stale]
    assert json.loads((job_dir.meta(vid) / "score.json").read_bytes()) == stale

    # … and once the file is back (say, copied from a backup) it is scored like any other.
    (job_dir.out(vid) / "img_0001.png").write_bytes(saved[vid])
    assert pruned_files(job_dir.variant(vid), ["out/img_0001.png"]) == []
    [doc] = score_variants_batch([job_dir.variant(vid)], _ctx(gt), ocr=False)
    assert doc is not None and doc["total"] > 0 and doc["variant_id"] == vid
    assert json.loads((job_dir.meta(vid) / "score.json").read_bytes()) == doc
