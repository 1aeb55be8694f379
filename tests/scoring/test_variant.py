"""meta/score.json per variant: shape, idempotency, re-scoring on change, and the pool."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.scoring import pool as pool_module
from nightrun_dagster.scoring.ocr_cache import OcrCache
from nightrun_dagster.scoring.pool import score_variants
from nightrun_dagster.scoring.synthetic import COPIES, AdStyle, build_ad, save_png
from nightrun_dagster.scoring.variant import score_variant

COPY = COPIES[2]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("variant-images")
    styles = {
        "good": AdStyle(seed=1),
        "no_price": AdStyle(seed=2, show_price=False),
        "blurred": AdStyle(seed=3, blur=3.0),
        "noisy": AdStyle(seed=4, noise=15),
    }
    return {k: save_png(build_ad(COPY, s), folder / f"img_{k}.png") for k, s in styles.items()}


def read_score(vdir: Path) -> dict[str, Any]:
    return json.loads((vdir / "meta" / "score.json").read_text())


def test_score_json_shape_and_best_output(
    tmp_path: Path, images: dict[str, Path], gt: Any, ocr_cache: OcrCache
) -> None:
    vdir = gt.make_variant(tmp_path / "v0007", images["no_price"], variant_id="v0007")
    # A second output, better than the first: best must point at it.
    (vdir / "out" / "img_0002.png").write_bytes(images["good"].read_bytes())
    params = json.loads((vdir / "meta" / "params.json").read_text())
    params["render"]["outputs"].append({"file": "out/img_0002.png", "kind": "image"})
    (vdir / "meta" / "params.json").write_text(json.dumps(params))

    doc = score_variant(vdir, gt.ctx_for(COPY), ocr_cache=ocr_cache)
    assert doc == read_score(vdir)
    assert doc["score_version"] == 1 and doc["variant_id"] == "v0007"
    assert [o["file"] for o in doc["outputs"]] == ["out/img_no_price.png", "out/img_0002.png"]
    assert doc["best"] == 1
    assert doc["total"] == doc["outputs"][1]["total"] > doc["outputs"][0]["total"]
    assert len(doc["inputs_sha256"]) == 64 and doc["scored_at"].endswith("+00:00")
    first = doc["outputs"][0]
    assert first["kind"] == "image" and len(first["sha256"]) == 64
    assert set(first["components"]) == {
        "sharpness",
        "text",
        "brand_color",
        "ui_integrity",
        "artifacts",
    }
    assert first["components"]["text"]["tokens_missing"] == [COPY.price]
    for name in ("sharpness", "text", "brand_color", "artifacts"):
        assert 0.0 <= first["components"][name]["score"] <= 1.0
        assert isinstance(first["components"][name]["raw"], dict)
    assert first["components"]["ui_integrity"] is None


def test_rescoring_is_skipped_until_something_changes(
    tmp_path: Path,
    images: dict[str, Path],
    gt: Any,
    ocr_cache: OcrCache,
    counting_tesseract: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vdir = gt.make_variant(tmp_path / "v0001", images["good"])
    ctx = gt.ctx_for(COPY)
    first = score_variant(vdir, ctx, ocr_cache=ocr_cache)
    assert counting_tesseract.calls == 1
    before = (vdir / "meta" / "score.json").stat().st_mtime_ns

    import nightrun_dagster.scoring.variant as variant_module

    real = variant_module.score_files
    scored: list[int] = []

    def counted(paths: list, *a: Any, **k: Any) -> Any:
        scored.append(len(paths))
        return real(paths, *a, **k)

    monkeypatch.setattr(variant_module, "score_files", counted)
    again = score_variant(vdir, ctx, ocr_cache=ocr_cache)
    assert again == first
    assert scored == [0]  # nothing was decoded or scored
    assert (vdir / "meta" / "score.json").stat().st_mtime_ns == before

    # New weights: a new inputs hash, so it is scored again (OCR still from the cache).
    reweighted = score_variant(vdir, gt.ctx_for(COPY, weights={"text": 1}), ocr_cache=ocr_cache)
    assert reweighted["inputs_sha256"] != first["inputs_sha256"]
    assert reweighted["total"] == pytest.approx(
        first["outputs"][0]["components"]["text"]["score"], abs=1e-6
    )
    # Different output bytes: scored again.
    (vdir / "out" / "img_good.png").write_bytes(images["blurred"].read_bytes())
    changed = score_variant(vdir, ctx, ocr_cache=ocr_cache)
    assert changed["inputs_sha256"] != first["inputs_sha256"]
    assert changed["total"] < first["total"]
    # force rescored even though nothing changed.
    forced = score_variant(vdir, ctx, ocr_cache=ocr_cache, force=True)
    assert forced["inputs_sha256"] == changed["inputs_sha256"]
    assert scored == [0, 1, 1, 1]
    assert counting_tesseract.calls == 2  # only the blurred bytes were new to OCR


def test_variants_not_rendered_ok_are_none(
    tmp_path: Path, images: dict[str, Path], gt: Any
) -> None:
    failed = gt.make_variant(tmp_path / "v0002", images["good"], status="failed")
    assert score_variant(failed, gt.ctx_for(COPY)) is None
    assert not (failed / "meta" / "score.json").exists()
    empty = tmp_path / "v0003"
    empty.mkdir()
    assert score_variant(empty, gt.ctx_for(COPY)) is None


def test_a_missing_or_broken_output_scores_zero_with_the_reason(
    tmp_path: Path, images: dict[str, Path], gt: Any, ocr_cache: OcrCache
) -> None:
    vdir = gt.make_variant(tmp_path / "v0004", images["good"])
    params = json.loads((vdir / "meta" / "params.json").read_text())
    params["render"]["outputs"] += [{"file": "out/gone.png"}, {"file": "out/broken.png"}]
    (vdir / "meta" / "params.json").write_text(json.dumps(params))
    (vdir / "out" / "broken.png").write_bytes(b"not a png")
    doc = score_variant(vdir, gt.ctx_for(COPY), ocr_cache=ocr_cache)
    gone, broken = doc["outputs"][1], doc["outputs"][2]
    assert gone["total"] == 0.0 and "missing" in gone["error"]
    assert broken["total"] == 0.0 and "not an image" in broken["error"]
    assert broken["components"] == dict.fromkeys(
        ["sharpness", "text", "brand_color", "ui_integrity", "artifacts"]
    )
    assert doc["best"] == 0 and doc["total"] > 0.5


def test_pool_scores_in_input_order_on_two_workers(
    tmp_path: Path, images: dict[str, Path], gt: Any
) -> None:
    names = ["good", "noisy", "no_price", "blurred", "good", "noisy"]
    dirs = [gt.make_variant(tmp_path / f"v{i:04d}", images[n]) for i, n in enumerate(names)]
    dirs.insert(3, gt.make_variant(tmp_path / "v0099", images["good"], status="failed"))
    progress: list[tuple[int, int]] = []
    cache = tmp_path / "ocr"
    results = score_variants(
        dirs,
        gt.ctx_for(COPY),
        workers=2,
        cache_dir=cache,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert [r["variant_id"] if r else None for r in results] == [
        "v0000",
        "v0001",
        "v0002",
        None,
        "v0003",
        "v0004",
        "v0005",
    ]
    assert progress[-1] == (7, 7)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    totals = [r["total"] for r in results if r]
    # Same bytes, same score, whichever worker scored them.
    assert totals[0] == totals[4] and totals[1] == totals[5]
    assert totals[0] > max(totals[1], totals[2], totals[3])
    assert len(list(cache.rglob("*.json"))) == 4  # one OCR entry per distinct image
    # In this process, with the cache filled by the workers: the same documents.
    again = score_variants(dirs, gt.ctx_for(COPY), workers=1, cache_dir=cache, force=True)
    assert [r["total"] if r else None for r in again] == [
        r["total"] if r else None for r in results
    ]


def test_workers_run_tesseract_and_opencv_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    threads = cv2.getNumThreads()
    try:
        pool_module._init_worker()
        assert os.environ["OMP_THREAD_LIMIT"] == "1"
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(threads)
    assert pool_module.chunk_size(800, 2) == pool_module.MAX_CHUNK
    assert pool_module.chunk_size(6, 2) == 1
