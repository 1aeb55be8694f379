"""scores, shortlist and night_summary on PostgreSQL, after a real render on the emulator."""

import json
from collections import Counter
from pathlib import Path

import dagster as dg

from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.assets.selection import night_summary, scores, shortlist
from nightrun_dagster.defs.breakers import BreakersResource
from nightrun_dagster.defs.partitions import night_job_key
from nightrun_dagster.defs.resources import ComfyUIResource, NightrunResource, TelegramResource
from nightrun_dagster.store.paths import Tree

NIGHT = "2026-02-09"
KEYS = ["verde-yerba-static-2026-02", "mitienda-checkout-ui-2026-02"]


def test_scores_shortlist_and_night_summary(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path], emulator
) -> None:
    pg_instance.add_dynamic_partitions("job", KEYS)
    resources = {
        "nightrun": NightrunResource(root=str(tree.root), max_renders_per_night=24),
        "comfyui": ComfyUIResource(urls=emulator.url, poll_s=0.2),
        "breakers": BreakersResource(),
        "telegram": TelegramResource(),  # off: the summary is not sent
    }
    assert dg.materialize(
        [night_plan], instance=pg_instance, partition_key=NIGHT, resources=resources
    ).success
    k, n = 1, 5
    config = {"ops": {"shortlist": {"config": {"k": k, "n": n}}}}
    for key in KEYS:
        result = dg.materialize(
            [job_spec, variants, renders, scores, shortlist],
            instance=pg_instance,
            partition_key=night_job_key(NIGHT, key),
            resources=resources,
            run_config=config,
        )
        assert result.success, key
        job_dir = tree.job(NIGHT, key)
        ids = json.loads(job_dir.variants_index.read_bytes())["variants"]
        for vid in ids:
            score = json.loads((job_dir.meta(vid) / "score.json").read_bytes())
            assert 0 <= score["total"] <= 1
            comps = score["outputs"][0]["components"]
            assert {"sharpness", "text", "brand_color", "artifacts"} <= set(comps)
        meta = result.asset_materializations_for_node("scores")[0].metadata
        assert meta["scored"].value == len(ids)
        assert "data:image/png;base64," in meta["distribution"].value
        assert (job_dir.selection / "score_distribution.png").read_bytes()[:4] == b"\x89PNG"

        short = json.loads((job_dir.selection / "shortlisted.json").read_bytes())
        picks = short["picks"]
        assert 0 < len(picks) <= n
        assert max(Counter(p["cluster"] for p in picks).values()) <= k
        assert max(Counter(p["dup_group"] for p in picks).values()) <= k
        totals = [p["total"] for p in picks]
        assert totals == sorted(totals, reverse=True)
        assert [p["rank"] for p in picks] == list(range(1, len(picks) + 1))
        assert all(p["reason"] and p["components"] for p in picks)
        sheet = job_dir.path / "contact_sheet.html"
        assert sheet.is_file() and picks[0]["variant_id"] in sheet.read_text()
        meta = result.asset_materializations_for_node("shortlist")[0].metadata
        assert meta["contact_sheet"].value == sheet.resolve().as_uri()

    summary = dg.materialize(
        [night_summary], instance=pg_instance, partition_key=NIGHT, resources=resources
    )
    assert summary.success
    meta = summary.asset_materializations_for_node("night_summary")[0].metadata
    assert meta["telegram"].value == "not configured"
    digest = json.loads((tree.night(NIGHT) / "night_summary.json").read_bytes())
    assert {j["job"] for j in digest["jobs"]} == set(KEYS)
    for job in digest["jobs"]:
        assert job["rendered"] == job["variants"] > 0 and job["failed"] == 0
        assert job["shortlisted"] > 0 and job["best_total"] is not None
    night_sheet = tree.night(NIGHT) / "contact_sheet.html"
    assert all(key in night_sheet.read_text() for key in KEYS)

    # scoring again is a no-op: every score.json is current
    before = {p: p.stat().st_mtime_ns for p in tree.night(NIGHT).rglob("score.json")}
    again = dg.materialize(
        [scores],
        instance=pg_instance,
        partition_key=night_job_key(NIGHT, KEYS[0]),
        resources=resources,
    )
    assert again.success
    after = {p: p.stat().st_mtime_ns for p in tree.night(NIGHT).rglob("score.json")}
    assert before == after
