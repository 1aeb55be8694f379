"""OCR results cached by image hash: a hit never runs tesseract, re-weighting never re-reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.scoring.ocr import PREP_VERSION
from nightrun_dagster.scoring.ocr_cache import OcrCache
from nightrun_dagster.scoring.score import score_file, score_files
from nightrun_dagster.scoring.synthetic import COPIES, AdStyle, build_ad, save_png


@pytest.fixture(scope="module")
def ads(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("cache-ads")
    return [
        save_png(build_ad(COPIES[1], AdStyle(seed=s, height=h)), folder / f"ad{s}.png")
        for s, h in ((3, 1350), (4, 1920))
    ]


def test_second_scoring_is_served_from_the_cache(
    ads: list[Path], gt: Any, ocr_cache: OcrCache, counting_tesseract: Any
) -> None:
    ctx = gt.ctx_for(COPIES[1])
    first = score_files(ads, ctx, ocr_cache=ocr_cache)
    # Both images in one tesseract process, two pages each (grey and min-RGB).
    assert (counting_tesseract.calls, counting_tesseract.pages) == (1, 4)
    assert ocr_cache.misses == 2 and ocr_cache.hits == 0
    again = score_files(ads, ctx, ocr_cache=ocr_cache)
    assert counting_tesseract.calls == 1
    assert ocr_cache.hits == 2
    assert again == first
    assert first[0]["components"]["text"]["tokens_missing"] == []


def test_reweighting_uses_the_cache_and_moves_only_the_total(
    ads: list[Path], gt: Any, ocr_cache: OcrCache, counting_tesseract: Any
) -> None:
    base = score_file(ads[0], gt.ctx_for(COPIES[1]), ocr_cache=ocr_cache)
    calls = counting_tesseract.calls
    heavy_text = gt.ctx_for(COPIES[1], weights={"text": 10, "sharpness": 1, "artifacts": 1})
    reweighted = score_file(ads[0], heavy_text, ocr_cache=ocr_cache)
    assert counting_tesseract.calls == calls
    assert reweighted["components"] == base["components"]
    # A component the context leaves out weighs 0; ui_integrity does not apply at all.
    assert set(reweighted["weights"]) == {"text", "sharpness", "artifacts", "brand_color"}
    assert reweighted["weights"]["brand_color"] == 0
    assert reweighted["weights"]["text"] == pytest.approx(10 / 12, abs=1e-5)
    expected = sum(w * base["components"][n]["score"] for n, w in reweighted["weights"].items())
    assert reweighted["total"] == pytest.approx(expected, abs=1e-5)


def test_key_includes_languages_and_preprocessing_version(
    ads: list[Path],
    ocr_cache: OcrCache,
    gt: Any,
    counting_tesseract: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    score_file(ads[0], gt.ctx_for(COPIES[1]), ocr_cache=ocr_cache)
    sha = score_file(ads[0], gt.ctx_for(COPIES[1]), ocr_cache=ocr_cache)["sha256"]
    assert counting_tesseract.calls == 1
    stored = ocr_cache.get(sha, "spa+eng")
    assert stored is not None and set(stored) == {"grey", "minrgb"}
    assert ocr_cache.get(sha, "eng") is None
    # English copy reads with another language set: a fresh tesseract run.
    score_file(ads[0], gt.ctx_for(COPIES[1], language="en-US"), ocr_cache=ocr_cache)
    assert counting_tesseract.calls == 2
    path = ocr_cache.path(sha, "spa+eng")
    assert path.is_file() and path.parent.parent == ocr_cache.folder
    assert ocr_cache.key(sha, "spa+eng") != ocr_cache.key(sha, "spa")
    # Another preprocessing version never reuses these results.
    monkeypatch.setattr("nightrun_dagster.scoring.ocr_cache.PREP_VERSION", PREP_VERSION + 1)
    assert ocr_cache.key(sha, "spa+eng") != path.stem
    assert ocr_cache.get(sha, "spa+eng") is None


def test_damaged_or_foreign_entries_are_misses(
    ads: list[Path], ocr_cache: OcrCache, gt: Any, counting_tesseract: Any
) -> None:
    doc = score_file(ads[0], gt.ctx_for(COPIES[1]), ocr_cache=ocr_cache)
    path = ocr_cache.path(doc["sha256"], "spa+eng")
    path.write_text("{ half a file")
    assert ocr_cache.get(doc["sha256"], "spa+eng") is None
    again = score_file(ads[0], gt.ctx_for(COPIES[1]), ocr_cache=ocr_cache)
    assert counting_tesseract.calls == 2
    assert again == doc
    # Rewritten whole by the second run, with no temporary files left behind.
    assert ocr_cache.get(doc["sha256"], "spa+eng") is not None
    assert [p.name for p in path.parent.iterdir()] == [path.name]
