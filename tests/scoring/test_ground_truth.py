"""Ground truth: each component ranks built defects correctly at ≥ 0.95 pairwise accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from nightrun_dagster.scoring.score import score_files
from nightrun_dagster.scoring.synthetic import (
    COPIES,
    build_ui_screen,
    save_png,
    ui_mask,
    ui_render,
)
from nightrun_dagster.scoring.ui import ssim_map

RATE = 0.95


def test_sharper_ranks_above_blurrier(pixel_cases: list, gt: Any) -> None:
    pairs = [("sharp", "blur1"), ("blur1", "blur3"), ("sharp", "blur3")]
    rate, failures = gt.pairwise_accuracy(pixel_cases, pairs, gt.component("sharpness"))
    assert rate >= RATE, failures


def test_noise_does_not_pass_for_sharpness(pixel_cases: list, gt: Any) -> None:
    """Noise inflates the Laplacian; the guard keeps a blurred, noisy ad below a sharp one
    and never above its clean blurred twin by more than a hair."""
    pairs = [("sharp", "blur3_noise12"), ("blur1", "blur3_noise12")]
    rate, failures = gt.pairwise_accuracy(pixel_cases, pairs, gt.component("sharpness"))
    assert rate >= RATE, failures
    index = gt.by_label(pixel_cases)
    for copy in COPIES:
        noisy = index[(copy.brand, "blur3_noise12")].doc["components"]["sharpness"]
        clean = index[(copy.brand, "blur3")].doc["components"]["sharpness"]
        assert noisy["raw"]["noise_sigma"] > 2.0
        # Without the guard the noisy one would read many times sharper.
        assert noisy["raw"]["laplacian_var"] > 10 * clean["raw"]["laplacian_var"]
        assert noisy["score"] <= clean["score"] + 0.02
        assert noisy["score"] < 0.6


def test_on_palette_ranks_above_off_palette(pixel_cases: list, gt: Any) -> None:
    pairs = [("sharp", "off_palette"), ("sharp", "off_palette_b")]
    rate, failures = gt.pairwise_accuracy(pixel_cases, pairs, gt.component("brand_color"))
    assert rate >= RATE, failures
    for case in pixel_cases:
        if case.label == "sharp":
            raw = case.doc["components"]["brand_color"]["raw"]
            assert raw["presence"] >= 0.6, (case.copy.brand, raw["brand_colors"])


def test_clean_ranks_above_noisy(pixel_cases: list, gt: Any) -> None:
    pairs = [("sharp", "noise4"), ("noise4", "noise12"), ("noise12", "noise25")]
    pairs += [("sharp", "blocks"), ("sharp", "specks"), ("noise4", "blocks")]
    rate, failures = gt.pairwise_accuracy(pixel_cases, pairs, gt.component("artifacts"))
    assert rate >= RATE, failures
    index = gt.by_label(pixel_cases)
    for copy in COPIES:
        assert index[(copy.brand, "sharp")].doc["components"]["artifacts"]["score"] > 0.9
        blocky = index[(copy.brand, "blocks")].doc["components"]["artifacts"]["raw"]
        assert blocky["blockiness"] > 2.0 and blocky["block_factor"] < 0.5
        specks = index[(copy.brand, "specks")].doc["components"]["artifacts"]["raw"]
        assert specks["speck_share"] > 0.003 and specks["speck_factor"] < 0.25


def test_text_ranks_all_tokens_above_price_missing_above_no_text(text_cases: list, gt: Any) -> None:
    pairs = [("all", "no_price"), ("no_price", "no_text"), ("all", "no_text")]
    rate, failures = gt.pairwise_accuracy(text_cases, pairs, gt.component("text"))
    assert rate >= RATE, failures
    index = gt.by_label(text_cases)
    for copy in COPIES:
        no_price = index[(copy.brand, "no_price")].doc["components"]["text"]
        assert no_price["tokens_missing"] == [copy.price], no_price["raw"]["tokens"]
        no_text = index[(copy.brand, "no_text")].doc["components"]["text"]
        assert no_text["tokens_found"] == []
        assert no_text["mean_confidence"] is None


def test_token_recall_on_unblurred_images(text_cases: list) -> None:
    """Recall over every token actually drawn: brand, product and price on full ads, brand
    and product where the price was left out; accents, Ñ, and `$ 12.999` badges included."""
    found = missed = 0
    misses = []
    for case in text_cases:
        text = case.doc["components"]["text"]
        drawn = {
            "all": [case.copy.brand, case.copy.product, case.copy.price],
            "no_price": [case.copy.brand, case.copy.product],
        }.get(case.label, [])
        for token in drawn:
            if token in text["tokens_found"]:
                found += 1
            else:
                missed += 1
                misses.append((case.path.name, token, text["raw"]["text_read"]))
    assert found + missed == len(COPIES) * 5
    assert found / (found + missed) >= 0.95, misses


def test_total_follows_the_components(text_cases: list) -> None:
    for case in text_cases:
        doc = case.doc
        weights = doc["weights"]
        assert set(weights) == {"sharpness", "text", "brand_color", "artifacts"}
        assert sum(weights.values()) == pytest.approx(1.0, abs=1e-5)
        expected = sum(w * doc["components"][n]["score"] for n, w in weights.items())
        assert doc["total"] == pytest.approx(expected, abs=1e-5)
        assert doc["components"]["ui_integrity"] is None
        assert "temporal" not in doc["components"]
    index = {(c.copy.brand, c.label): c for c in text_cases}
    for copy in COPIES:
        assert (
            index[(copy.brand, "all")].doc["total"] > index[(copy.brand, "no_price")].doc["total"]
        )


@pytest.fixture(scope="module")
def ui_cases(tmp_path_factory: pytest.TempPathFactory, gt: Any) -> dict[tuple, Any]:
    """Renders over two base screens (both sizes) at growing drift, scored inside the mask."""
    folder = tmp_path_factory.mktemp("ui")
    out = {}
    for screen, (w, h) in enumerate(((1080, 1350), (1080, 1920))):
        base = build_ui_screen(w, h, seed=screen)
        base_path = save_png(base, folder / f"base_{screen}.png")
        mask_path = save_png(ui_mask(w, h), folder / f"mask_{screen}.png")
        ctx = gt.ctx_for(COPIES[screen], base_ui=base_path, mask=mask_path)
        for seed in range(2):
            drifts = (0.0, 0.01, 0.03, 0.1, 0.3)
            paths = [
                save_png(ui_render(base, d, seed), folder / f"r{screen}_{seed}_{d}.bmp")
                for d in drifts
            ]
            docs = score_files(paths, ctx, ocr=False)
            for d, doc in zip(drifts, docs, strict=True):
                out[(screen, seed, d)] = doc
    return out


def test_intact_ui_ranks_above_drifted_ui(ui_cases: dict) -> None:
    right = total = 0
    failures = []
    keys = sorted({(s, seed) for s, seed, _ in ui_cases})
    drifts = sorted({d for _, _, d in ui_cases})
    for screen, seed in keys:
        for i, better in enumerate(drifts):
            for worse in drifts[i + 1 :]:
                a = ui_cases[(screen, seed, better)]["components"]["ui_integrity"]["score"]
                b = ui_cases[(screen, seed, worse)]["components"]["ui_integrity"]["score"]
                total += 1
                if a > b:
                    right += 1
                else:
                    failures.append((screen, seed, better, a, worse, b))
    assert right / total >= RATE, failures
    for (_, _, drift), doc in ui_cases.items():
        ui = doc["components"]["ui_integrity"]
        assert ui["raw"]["below_threshold"] is (drift >= 0.03), (drift, ui["raw"])
        assert "ui_integrity" in doc["weights"]


def test_ui_noise_inside_the_mask_is_seen_at_full_resolution(tmp_path: Path, gt: Any) -> None:
    """Grain that a downscale would average away still lowers SSIM inside the mask, while
    anything outside the mask does not count."""
    base = build_ui_screen(1080, 1350, seed=4)
    base_path = save_png(base, tmp_path / "base.png")
    mask = ui_mask(1080, 1350)
    mask_path = save_png(mask, tmp_path / "mask.png")
    clean = ui_render(base, 0.0, seed=1)
    noisy = np.clip(
        clean.astype(np.float32) + np.random.default_rng(3).normal(0, 14, clean.shape), 0, 255
    ).astype(np.uint8)
    outside = clean.copy()
    outside[mask == 0] = 255 - outside[mask == 0]
    paths = [
        save_png(img, tmp_path / f"{name}.png")
        for name, img in (("clean", clean), ("noisy", noisy), ("outside", outside))
    ]
    docs = score_files(paths, gt.ctx_for(COPIES[0], base_ui=base_path, mask=mask_path), ocr=False)
    clean_s, noisy_s, outside_s = (d["components"]["ui_integrity"]["raw"]["ssim"] for d in docs)
    assert clean_s > 0.95
    assert noisy_s < clean_s - 0.2
    assert outside_s == pytest.approx(clean_s, abs=0.02)

    def quarter_ssim(img: np.ndarray) -> float:
        def small(x: np.ndarray) -> np.ndarray:
            grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
            return cv2.resize(grey, (270, 338), interpolation=cv2.INTER_AREA)

        smap, _, _ = ssim_map(small(img), small(base))
        return float(smap[cv2.resize(mask, (270, 338)) > 127].mean())

    # The same comparison at a quarter of the size would hardly notice the grain.
    assert quarter_ssim(clean) - quarter_ssim(noisy) < (clean_s - noisy_s) / 2
