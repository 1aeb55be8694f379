"""night_plan, job_spec and variants materialized on a Dagster instance stored in PostgreSQL."""

import json
from pathlib import Path

import dagster as dg
import pytest

from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.partitions import night_job_key
from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.store.hashing import sha256_file
from nightrun_dagster.store.paths import Tree

NIGHT = "2026-02-09"  # a Monday: exploration
STATIC = "verde-yerba-static-2026-02"


def add_jobs(instance: dg.DagsterInstance, keys: list[str]) -> None:
    instance.add_dynamic_partitions("job", keys)


def materialize_night(instance, nightrun, keys, night=NIGHT, tags=None):
    resources = {"nightrun": nightrun}
    plan = dg.materialize(
        [night_plan], instance=instance, partition_key=night, resources=resources, tags=tags
    )
    assert plan.success
    results = {}
    for key in keys:
        res = dg.materialize(
            [job_spec, variants],
            instance=instance,
            partition_key=night_job_key(night, key),
            resources=resources,
        )
        assert res.success
        results[key] = res
    return plan, results


def test_plan_spec_and_variants_on_postgres(
    pg_instance: dg.DagsterInstance,
    tree: Tree,
    nightrun: NightrunResource,
    queued_examples: list[Path],
) -> None:
    assert "postgres" in type(pg_instance.run_storage).__name__.lower()
    keys = ["mitienda-checkout-ui-2026-02", STATIC, "verde-teaser-reel-2026-02"]
    add_jobs(pg_instance, keys)
    _, results = materialize_night(pg_instance, nightrun, keys)

    plan = json.loads(tree.night_plan(NIGHT).read_bytes())
    assert plan["mode"] == "exploration"
    assert plan["window"]["start"].startswith("2026-02-09T23:00:00-03:00")
    assert [j["key"] for j in plan["jobs"]] == [
        STATIC,
        "mitienda-checkout-ui-2026-02",
        "verde-teaser-reel-2026-02",
    ]
    static = plan["jobs"][0]
    assert static["cap"] == 800 and static["sweep_size"] == 1920 and static["budget"] == 800

    job_dir = tree.job(NIGHT, STATIC)
    manifest = json.loads(job_dir.inputs_manifest.read_bytes())
    assert job_dir.job_snapshot.read_bytes() == (tree.queue / "static_sdxl_ad.json").read_bytes()
    stored = {a["source"]: a for a in manifest["assets"]}
    assert set(stored) == {"product_yerba.png", "logo_verde.png"}
    for src, entry in stored.items():
        copy = job_dir.inputs / entry["stored"]
        assert entry["sha256"] == sha256_file(tree.assets / src) == sha256_file(copy)

    params = sorted(job_dir.variants.glob("v*/meta/params.json"))
    assert len(params) == 800
    index = json.loads(job_dir.variants_index.read_bytes())
    assert index["count"] == 800 and index["variants"][0] == "v0001"
    first = json.loads(params[0].read_bytes())
    assert first["variant_id"] == "v0001" and first["night"] == NIGHT
    assert first["template"]["id"] == "static_ad_v1" and len(first["template"]["sha256"]) == 64
    assert {"prompt", "negative", "seed", "loras", "sampler", "steps", "cfg", "denoise"} <= set(
        first
    )

    # Lineage and metadata live in the Postgres event log.
    record = pg_instance.get_latest_materialization_event(dg.AssetKey("variants"))
    assert record is not None
    mat = record.asset_materialization
    assert mat.partition in {str(night_job_key(NIGHT, k)) for k in keys}
    status = pg_instance.get_materialized_partitions(dg.AssetKey("variants"))
    assert status == {str(night_job_key(NIGHT, k)) for k in keys}
    meta = results[STATIC].asset_materializations_for_node("variants")[0].metadata
    assert meta["count"].value == 800 and meta["cap"].value == 800
    assert meta["mode"].value == "exploration"
    assert "| v0001 |" in meta["preview"].value

    # A re-run writes nothing new and changes no byte.
    before = {p: p.read_bytes() for p in params}
    _, again = materialize_night(pg_instance, nightrun, [STATIC])
    meta = again[STATIC].asset_materializations_for_node("variants")[0].metadata
    assert meta["written"].value == 0 and meta["unchanged"].value == 800
    assert {p: p.read_bytes() for p in params} == before


def test_mode_tag_overrides_weekday(
    pg_instance: dg.DagsterInstance,
    tree: Tree,
    nightrun: NightrunResource,
    queued_examples: list[Path],
) -> None:
    add_jobs(pg_instance, [STATIC])
    materialize_night(pg_instance, nightrun, [STATIC], tags={"nightrun/mode": "exploitation"})
    plan = json.loads(tree.night_plan(NIGHT).read_bytes())
    assert plan["mode"] == "exploitation"
    count = len(list(tree.job(NIGHT, STATIC).variants.glob("v*/meta/params.json")))
    assert 0 < count < 100  # hero seeds, middle values


def test_nightly_maximum_is_shared_by_priority(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path]
) -> None:
    keys = ["mitienda-checkout-ui-2026-02", STATIC, "verde-teaser-reel-2026-02"]
    add_jobs(pg_instance, keys)
    tight = NightrunResource(root=str(tree.root), max_renders_per_night=100)
    materialize_night(pg_instance, tight, keys)
    plan = json.loads(tree.night_plan(NIGHT).read_bytes())
    budgets = {j["key"]: j["budget"] for j in plan["jobs"]}
    assert sum(budgets.values()) == 100
    assert budgets[STATIC] > budgets["mitienda-checkout-ui-2026-02"]  # priority 70 > 50
    for key, budget in budgets.items():
        count = len(list(tree.job(NIGHT, key).variants.glob("v*/meta/params.json")))
        assert count == budget


def test_sunday_is_maintenance_with_no_variants(
    pg_instance: dg.DagsterInstance,
    tree: Tree,
    nightrun: NightrunResource,
    queued_examples: list[Path],
) -> None:
    add_jobs(pg_instance, [STATIC])
    materialize_night(pg_instance, nightrun, [STATIC], night="2026-02-15")
    plan = json.loads(tree.night_plan("2026-02-15").read_bytes())
    assert plan["mode"] == "maintenance" and plan["total_budget"] == 0
    index = json.loads(tree.job("2026-02-15", STATIC).variants_index.read_bytes())
    assert index["count"] == 0


def test_variants_without_a_plan_fail_clearly(
    pg_instance: dg.DagsterInstance,
    tree: Tree,
    nightrun: NightrunResource,
    queued_examples: list[Path],
) -> None:
    add_jobs(pg_instance, [STATIC])
    with pytest.raises(dg.Failure, match="materialize night_plan"):
        dg.materialize(
            [job_spec, variants],
            instance=pg_instance,
            partition_key=night_job_key(NIGHT, STATIC),
            resources={"nightrun": nightrun},
        )


def test_job_spec_for_a_job_no_longer_queued_fails_clearly(
    pg_instance: dg.DagsterInstance, tree: Tree, nightrun: NightrunResource
) -> None:
    add_jobs(pg_instance, ["gone"])
    with pytest.raises(dg.Failure, match="no valid job file with key 'gone'"):
        dg.materialize(
            [job_spec],
            instance=pg_instance,
            partition_key=night_job_key(NIGHT, "gone"),
            resources={"nightrun": nightrun},
        )
