"""Video outputs: per-frame components on sampled frames, OCR on two, temporal flicker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nightrun_dagster.scoring.media import read_video, sample_indices
from nightrun_dagster.scoring.score import score_files
from nightrun_dagster.scoring.synthetic import COPIES, teaser_frames, write_mp4

COPY = COPIES[3]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory, gt: Any) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("videos")
    steady = write_mp4(teaser_frames(COPY, frames=24), folder / "steady.mp4")
    flicker = write_mp4(teaser_frames(COPY, frames=24, flicker=14.0), folder / "flicker.mp4")
    docs = score_files([steady, flicker], gt.ctx_for(COPY))
    return {"steady": docs[0], "flicker": docs[1]}


def test_flickering_video_scores_lower_on_temporal(videos: dict[str, dict[str, Any]]) -> None:
    steady = videos["steady"]["components"]["temporal"]
    flicker = videos["flicker"]["components"]["temporal"]
    assert steady["score"] > 0.9
    assert flicker["score"] < 0.2
    assert flicker["raw"]["flicker"] > 10 * max(steady["raw"]["flicker"], 0.1)
    assert steady["raw"]["frame_count"] == 24 and steady["raw"]["frames"] == 24
    assert videos["steady"]["total"] > videos["flicker"]["total"]


def test_video_document_shape(videos: dict[str, dict[str, Any]]) -> None:
    doc = videos["steady"]
    assert doc["kind"] == "video"
    assert set(doc["components"]) == {
        "sharpness",
        "text",
        "brand_color",
        "ui_integrity",
        "artifacts",
        "temporal",
    }
    assert doc["components"]["ui_integrity"] is None
    assert "temporal" in doc["weights"]
    assert sum(doc["weights"].values()) == pytest.approx(1.0, abs=1e-5)
    sharp = doc["components"]["sharpness"]
    assert [f["frame"] for f in sharp["raw"]["per_frame"]] == sample_indices(24, 4)
    assert sharp["score"] == pytest.approx(
        float(np.median([f["score"] for f in sharp["raw"]["per_frame"]])), abs=1e-6
    )
    text = doc["components"]["text"]
    # The copy is on screen from the first frame: OCR of two sampled frames finds it.
    assert text["tokens_missing"] == [], text["raw"]["tokens"]
    assert all("(frame " in t["pass"] for t in text["raw"]["tokens"])


def test_read_video_samples_and_small_frames(tmp_path: Path) -> None:
    path = write_mp4(teaser_frames(COPY, frames=10, size=(180, 320)), tmp_path / "short.mp4")
    video = read_video(path, k=4)
    assert video.frame_count == 10 and video.indices == sample_indices(10, 4)
    assert video.frames[0].shape == (320, 180, 3)
    assert video.small.shape[0] == 10 and video.small.shape[2] == 96
    assert sample_indices(3, 4) == [0, 1, 2]
