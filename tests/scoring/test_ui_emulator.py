"""The UI-anchored example job rendered on the emulator: ui_integrity rises as denoise falls."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import spearmanr

from nightrun_dagster.emulator import EmulatorServer
from nightrun_dagster.emulator.config import EmulatorConfig
from nightrun_dagster.emulator.nodes import scale
from nightrun_dagster.emulator.prompt_text import parse_ad_text
from nightrun_dagster.emulator.render import Scene, render
from nightrun_dagster.emulator.values import Images
from nightrun_dagster.scoring.context import context_from_job, job_ui_assets
from nightrun_dagster.scoring.media import load_image
from nightrun_dagster.scoring.score import score_files
from nightrun_dagster.scoring.ui import SSIM_THRESHOLD, UiReference, ui_integrity
from nightrun_dagster.store.paths import Tree
from tests.comfy.render_helpers import REPO, plan
from tests.comfy.render_helpers import render as render_variants

SCREEN = REPO / "job_specs" / "assets" / "ui_checkout_screen.png"
# Renders per (denoise, ControlNet weight) cell of the job's 3 × 3 sweep: 27 in all, at the
# job's own 1024×1280, three seeds to a cell.
PER_CELL = 3


def _pick(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PER_CELL variants of every (denoise, ControlNet weight) cell, none sharing a seed."""
    cells: dict[tuple[float, float], list[dict[str, Any]]] = defaultdict(list)
    for p in params:
        cell = cells[(p["denoise"], p["controlnet"]["weight"])]
        if len(cell) < PER_CELL and p["seed"] not in {q["seed"] for q in cell}:
            cell.append(p)
    assert len(cells) == 9 and all(len(c) == PER_CELL for c in cells.values())
    return [p for c in cells.values() for p in c]


def render_grid(tmp: Path) -> list[dict[str, Any]]:
    """Plan the job's whole sweep, render a grid of it through the render loop's ComfyUI client
    on an emulator, and score it with the job's context (pixels only: OCR says nothing about
    the layout)."""
    tree = Tree(tmp / "night-runs")
    shutil.copytree(REPO / "job_specs" / "assets", tree.assets)
    tree.queue.mkdir(parents=True)
    server = EmulatorServer(
        EmulatorConfig(
            render_ms=20,
            output_dir=tmp / "comfy" / "output",
            input_dir=tmp / "comfy" / "input",
            temp_dir=tmp / "comfy" / "temp",
        )
    ).start()
    try:
        found, job_dir, ids = plan(tree, "ui_anchored_ad.json", 108, size=(1024, 1280))
        assert len(ids) == 108
        chosen = _pick([json.loads(job_dir.params(vid).read_bytes()) for vid in ids])
        report = render_variants(found, job_dir, [p["variant_id"] for p in chosen], server.url)
    finally:
        server.stop()
    assert report.rendered == len(chosen) and not report.failed
    base_ui, mask = job_ui_assets(found.job, job_dir.inputs / "assets")
    assert base_ui is not None and base_ui.is_file()
    ctx = context_from_job(found.job, base_ui=base_ui, mask=mask)
    paths = [job_dir.variant(p["variant_id"]) / "out" / "img_0001.png" for p in chosen]
    docs = score_files(paths, ctx, ocr=False)
    return [
        {"denoise": p["denoise"], "control": p["controlnet"]["weight"], **doc}
        for p, doc in zip(chosen, docs, strict=True)
    ]


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return render_grid(tmp_path_factory.mktemp("ui_job"))


def _ui(row: dict[str, Any]) -> dict[str, Any]:
    return row["components"]["ui_integrity"]


def _cell(grid: list[dict[str, Any]], denoise: float, control: float) -> list[dict[str, Any]]:
    return [_ui(r) for r in grid if (r["denoise"], r["control"]) == (denoise, control)]


def test_ui_integrity_rises_as_denoise_falls(grid: list[dict[str, Any]]) -> None:
    scores = [_ui(r)["score"] for r in grid]
    rho = spearmanr([r["denoise"] for r in grid], scores).statistic
    table = [(r["denoise"], r["control"], round(_ui(r)["score"], 3)) for r in grid]
    assert rho <= -0.8, table


def test_intact_layouts_pass_and_drifted_ones_score_lower(grid: list[dict[str, Any]]) -> None:
    kept = _cell(grid, 0.25, 0.9)
    assert all(ui["raw"]["ssim"] >= SSIM_THRESHOLD for ui in kept), [u["raw"] for u in kept]
    assert all(not ui["raw"]["below_threshold"] for ui in kept)
    assert all(ui["score"] >= 0.9 for ui in _cell(grid, 0.25, 0.75) + kept)
    drifted = _cell(grid, 0.45, 0.55)
    assert all(ui["raw"]["below_threshold"] for ui in drifted), [u["raw"] for u in drifted]
    assert max(ui["score"] for ui in drifted) < min(ui["score"] for ui in kept) - 0.3
    # At one denoise, a stronger ControlNet holds the layout better.
    for denoise in (0.25, 0.35, 0.45):
        scores = [[ui["score"] for ui in _cell(grid, denoise, c)] for c in (0.55, 0.75, 0.9)]
        assert max(scores[0]) < min(scores[1]) and max(scores[1]) < min(scores[2]), scores


def test_every_component_applies_and_the_ui_counts(grid: list[dict[str, Any]]) -> None:
    for row in grid:
        assert "ui_integrity" in row["weights"] and row["weights"]["ui_integrity"] > 0
        assert row["components"]["artifacts"]["score"] > 0.9  # restyling is not damage


def test_the_screenshot_as_imagescale_crops_it_scores_whole() -> None:
    """The scorer fits the base as ComfyUI's ImageScale (crop center) does, to the pixel: the
    untouched, rescaled screenshot is the perfect render, not a shifted one."""
    screen = load_image(SCREEN)
    fitted = scale(Images(screen[None]), "lanczos", 1024, 1280, "center").pixels[0]
    ui = ui_integrity(fitted, UiReference(SCREEN))
    assert ui["raw"]["ssim"] > 0.99 and ui["score"] > 0.99


def test_a_garbled_ui_still_fails() -> None:
    """High denoise with a weak ControlNet redraws the screen: below the threshold, near 0."""
    screen = scale(Images(load_image(SCREEN)[None]), "lanczos", 1024, 1280, "center").pixels[0]
    text = parse_ad_text('headline "Tu yerba en 2 toques", brand "Verde", price "$ 4.999"')
    ref = UiReference(SCREEN)
    garbled = render(
        Scene(1024, 1280, 5000, denoise=0.85, text=text, control_strength=0.3, base=screen)
    )
    ui = ui_integrity(garbled, ref)
    assert ui["raw"]["below_threshold"] and ui["score"] < 0.2, ui["raw"]
    # The same screen moved bodily by a few pixels fails too: layout, not just style.
    moved = np.roll(screen, (6, 4), axis=(0, 1))
    assert ui_integrity(moved, ref)["raw"]["below_threshold"]
