"""A job's scores after a scoring run, written for people: `selection/scores.csv`, the
distribution chart beside it and the numbers the run reports."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nightrun_dagster.selection.report import distribution_png, scores_frame, write_csv
from nightrun_dagster.store.atomic import atomic_write_bytes
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.variant_docs import read_params
from nightrun_dagster.store.variant_state import RenderStatus, render_status

SCORES_CSV = "scores.csv"
DISTRIBUTION_PNG = "score_distribution.png"


@dataclass
class ScoreTable:
    """The job's scored variants, best first (`frame`), its chart and where the table is."""

    frame: pd.DataFrame
    png: bytes
    csv: Path

    def png_base64(self) -> str:
        return base64.b64encode(self.png).decode()

    def top(self, rows: int) -> list[dict[str, Any]]:
        return self.frame.head(rows).to_dict("records")

    def mean_total(self) -> float:
        return round(float(self.frame["total"].mean()), 4) if len(self.frame) else 0.0

    def best_total(self) -> float:
        return round(float(self.frame["total"].max()), 4) if len(self.frame) else 0.0


def rendered_variants(job_dir: JobDir, variant_ids: list[str]) -> list[Path]:
    """The folders of the variants whose render is recorded as ok: what there is to score."""
    return [
        job_dir.variant(v)
        for v in variant_ids
        if render_status(read_params(job_dir, v)) is RenderStatus.OK
    ]


def write_score_table(job_dir: JobDir, variant_ids: list[str], title: str) -> ScoreTable:
    """Write `selection/scores.csv` and `selection/score_distribution.png` from the variants'
    `score.json`; the table written."""
    frame = scores_frame(job_dir, variant_ids)
    csv = job_dir.selection / SCORES_CSV
    write_csv(frame, csv)
    png = distribution_png(frame, title)
    atomic_write_bytes(job_dir.selection / DISTRIBUTION_PNG, png)
    return ScoreTable(frame, png, csv)
