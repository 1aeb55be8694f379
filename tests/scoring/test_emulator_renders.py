"""The ComfyUI emulator's deliberate defects, each caught by the component meant for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.emulator.prompt_text import AdText
from nightrun_dagster.emulator.render import (
    Scene,
    garbles_headline,
    off_palette,
    omits_price,
    render,
)
from nightrun_dagster.scoring.context import ScoreContext
from nightrun_dagster.scoring.score import score_files
from nightrun_dagster.scoring.synthetic import save_png

BRAND_COLORS = ("#146E46", "#FAF0D2", "#FF8C00")
TEXT = AdText(
    headline="El mate de siempre, 2x1",
    brand="Verde",
    price="$ 4.999",
    product="Yerba Mate Verde 500 g",
    colours=((0x14, 0x6E, 0x46), (0xFA, 0xF0, 0xD2), (0xFF, 0x8C, 0x00)),
)
CTX = ScoreContext(
    "Verde", "Yerba Mate Verde 500 g", "$ 4.999", BRAND_COLORS, headline=TEXT.headline
)


def _seed(rule: Any, clean: bool = False) -> int:
    rules = (garbles_headline, omits_price, off_palette)
    for seed in range(1000, 2000):
        if clean and not any(r(seed) for r in rules):
            return seed
        if not clean and rule(seed) and not any(r(seed) for r in rules if r is not rule):
            return seed
    raise AssertionError("no seed found")


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("emulator")
    clean = _seed(None, clean=True)
    scenes = {
        "clean": {"seed": clean},
        "steps10": {"seed": clean, "steps": 10},
        "steps6": {"seed": clean, "steps": 6},
        "cfg15": {"seed": clean, "cfg": 15.0},
        "lora2": {"seed": clean, "loras": (("brand_style", 2.0),)},
        "garbled": {"seed": _seed(garbles_headline)},
        "no_price": {"seed": _seed(omits_price)},
        "off_palette": {"seed": _seed(off_palette)},
    }
    paths = []
    for name, kw in scenes.items():
        img = render(Scene(width=1024, height=1280, text=TEXT, **kw))
        paths.append(save_png(img, Path(folder) / f"{name}.png"))
    return dict(zip(scenes, score_files(paths, CTX), strict=True))


def score(doc: dict[str, Any], name: str) -> float:
    return float(doc["components"][name]["score"])


def test_each_defect_lowers_its_component(renders: dict[str, dict[str, Any]]) -> None:
    clean = renders["clean"]
    assert score(clean, "sharpness") > score(renders["steps10"], "sharpness")
    assert score(renders["steps10"], "sharpness") > score(renders["steps6"], "sharpness")
    assert score(clean, "artifacts") > 0.9
    assert score(renders["cfg15"], "artifacts") < 0.5
    assert score(renders["lora2"], "artifacts") < 0.1
    assert score(renders["off_palette"], "brand_color") < score(clean, "brand_color") - 0.3
    assert renders["no_price"]["components"]["text"]["tokens_missing"] == ["$ 4.999"]
    assert clean["components"]["text"]["tokens_missing"] == []
    garbled = renders["garbled"]["components"]["text"]["raw"]["headline_similarity"]
    assert garbled < clean["components"]["text"]["raw"]["headline_similarity"]
    for name, doc in renders.items():
        if name != "clean":
            assert clean["total"] > doc["total"], name
