"""A job's score table after scoring: what there was to score, the CSV, the chart, the numbers."""

from __future__ import annotations

import csv
import json

from nightrun_dagster.selection.score_table import rendered_variants, write_score_table
from nightrun_dagster.store.paths import JobDir, Tree

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _variant(job_dir: JobDir, vid: str, status: str | None, total: float | None) -> None:
    job_dir.meta(vid).mkdir(parents=True)
    params: dict[str, object] = {"variant_id": vid}
    if status:
        params["render"] = {"status": status}
    job_dir.params(vid).write_text(json.dumps(params))
    if total is not None:
        score = {
            "variant_id": vid,
            "outputs": [
                {"file": "out/img_0001.png", "total": total, "components": {"text": {"score": 0.5}}}
            ],
            "total": total,
            "best": 0,
        }
        (job_dir.meta(vid) / "score.json").write_text(json.dumps(score))


def test_only_rendered_variants_are_scored_and_the_best_comes_first(tree: Tree) -> None:
    job_dir = tree.job("2026-02-10", "shoes")
    _variant(job_dir, "v0001", "ok", 0.4)
    _variant(job_dir, "v0002", "failed", None)
    _variant(job_dir, "v0003", None, None)
    _variant(job_dir, "v0004", "ok", 0.8)
    ids = ["v0001", "v0002", "v0003", "v0004"]
    assert rendered_variants(job_dir, ids) == [job_dir.variant("v0001"), job_dir.variant("v0004")]

    table = write_score_table(job_dir, ids, "shoes")
    assert [r["variant_id"] for r in table.top(5)] == ["v0004", "v0001"]
    assert (table.mean_total(), table.best_total()) == (0.6, 0.8)
    with table.csv.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["variant_id"] for r in rows] == ["v0004", "v0001"] and rows[0]["text"] == "0.5"
    chart = job_dir.selection / "score_distribution.png"
    assert chart.read_bytes() == table.png and table.png.startswith(PNG_MAGIC)


def test_a_night_with_nothing_scored_reports_zeros(tree: Tree) -> None:
    job_dir = tree.job("2026-02-10", "shoes")
    _variant(job_dir, "v0001", "failed", None)
    table = write_score_table(job_dir, ["v0001"], "shoes")
    assert table.top(5) == [] and (table.mean_total(), table.best_total()) == (0.0, 0.0)
    assert table.csv.is_file() and table.png.startswith(PNG_MAGIC)
