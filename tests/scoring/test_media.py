"""Odd inputs: transparency, 16-bit and grey PNGs, GIF, blank and one-colour images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nightrun_dagster.scoring.context import ScoreContext
from nightrun_dagster.scoring.media import UnreadableMedia, load_image
from nightrun_dagster.scoring.score import score_file, score_files
from nightrun_dagster.scoring.synthetic import COPIES, save_png


def test_load_image_normalizes_to_rgb_uint8(tmp_path: Path) -> None:
    Image.new("RGBA", (40, 30), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    Image.new("LA", (40, 30), (0, 255)).save(tmp_path / "grey_alpha.png")
    Image.new("I;16", (40, 30), 65535).save(tmp_path / "grey16.png")
    Image.new("RGB", (40, 30), (0, 0, 255)).save(tmp_path / "blue.gif")
    expected = {
        "clear.png": (255, 255, 255),  # fully transparent: the white it would show on
        "grey_alpha.png": (0, 0, 0),
        "grey16.png": (255, 255, 255),
        "blue.gif": (0, 0, 255),
    }
    for name, rgb in expected.items():
        img = load_image(tmp_path / name)
        assert img.shape == (30, 40, 3) and img.dtype == np.uint8, name
        assert tuple(int(v) for v in img[5, 5]) == rgb, name
    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(UnreadableMedia):
        load_image(tmp_path / "junk.png")
    with pytest.raises(UnreadableMedia):
        score_file(tmp_path / "absent.png", _ctx(), ocr=False)


def _ctx() -> ScoreContext:
    copy = COPIES[1]
    return ScoreContext(copy.brand, copy.product, copy.price, copy.brand_colors)


def test_blank_and_one_colour_images_score_zero_on_artifacts(tmp_path: Path) -> None:
    brand = np.array([20, 110, 70], np.uint8)
    paths = [
        save_png(np.full((1350, 1080, 3), 255, np.uint8), tmp_path / "white.png"),
        save_png(np.broadcast_to(brand, (1350, 1080, 3)).copy(), tmp_path / "green.png"),
        save_png(np.full((6, 6, 3), 90, np.uint8), tmp_path / "tiny.png"),
    ]
    for doc in score_files(paths, _ctx()):
        artifacts = doc["components"]["artifacts"]
        assert artifacts["score"] == 0.0 and artifacts["raw"]["near_blank"], doc["file"]
        assert doc["components"]["text"]["tokens_found"] == []
        assert doc["components"]["sharpness"]["score"] == 0.0
        assert doc["total"] <= 0.2
