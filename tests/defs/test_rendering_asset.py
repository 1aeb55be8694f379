"""The `renders` asset on a PostgreSQL instance against the emulator."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.breakers import BreakersResource
from nightrun_dagster.defs.partitions import night_job_key
from nightrun_dagster.defs.resources import ComfyUIResource, NightrunResource, TelegramResource
from nightrun_dagster.defs.tags import STOP_AT_TAG
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.variant_state import is_complete

NIGHT = "2026-02-09"
STATIC = "verde-yerba-static-2026-02"


def night(instance, resources, keys):
    plan = dg.materialize([night_plan], instance=instance, partition_key=NIGHT, resources=resources)
    assert plan.success
    return {
        key: dg.materialize(
            [job_spec, variants, renders],
            instance=instance,
            partition_key=night_job_key(NIGHT, key),
            resources=resources,
            raise_on_error=False,
        )
        for key in keys
    }


def test_renders_materialize_with_metadata_and_rerun_renders_nothing(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path], emulator
) -> None:
    keys = [STATIC, "verde-teaser-reel-2026-02"]
    pg_instance.add_dynamic_partitions("job", keys)
    resources = {
        "nightrun": NightrunResource(root=str(tree.root), max_renders_per_night=8),
        "comfyui": ComfyUIResource(urls=emulator.url, poll_s=0.2),
        "breakers": BreakersResource(),
        "telegram": TelegramResource(),
    }
    results = night(pg_instance, resources, keys)
    for key, result in results.items():
        assert result.success, key
        meta = result.asset_materializations_for_node("renders")[0].metadata
        index = json.loads(tree.job(NIGHT, key).variants_index.read_bytes())
        assert meta["rendered"].value == index["count"] > 0
        assert meta["failed"].value == 0
        assert meta["mode"].value == "exploration"  # a Monday
        assert meta["outcomes"].value == {"ok": index["count"]}
        assert 0 < meta["gpu_duty_cycle"].value <= 1.05
        # Without NVML (no driver here) the emulator's /system_stats VRAM figures stand in.
        gpu = meta["gpu"].value
        assert gpu["samples"] == index["count"] and gpu["vram_used_mb_max"] > 0
        if gpu["source"] == "comfyui_system_stats":
            assert gpu["vram_total_mb"] == 10 * 1024
        for vid in index["variants"]:
            assert is_complete(tree.job(NIGHT, key), vid)
            sample = json.loads(tree.job(NIGHT, key).params(vid).read_bytes())["gpu"]
            assert sample["source"] in {"nvml", "comfyui_system_stats"}
            assert 0 < sample["vram_used_mb"] <= sample["vram_total_mb"]
    executions = emulator.stats()["executions"]

    again = night(pg_instance, resources, [STATIC])[STATIC]
    meta = again.asset_materializations_for_node("renders")[0].metadata
    assert meta["rendered"].value == 0 and meta["already_done"].value > 0
    assert emulator.stats()["executions"] == executions
    records = pg_instance.fetch_materializations(dg.AssetKey("renders"), limit=10).records
    assert len(records) == 3


def test_missing_model_fails_the_partition_with_the_name(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path], emulator_factory
) -> None:
    server = emulator_factory(missing_models={"sd_xl_base_1.0.safetensors"})
    pg_instance.add_dynamic_partitions("job", [STATIC])
    resources = {
        "nightrun": NightrunResource(root=str(tree.root), max_renders_per_night=4),
        "comfyui": ComfyUIResource(urls=server.url, poll_s=0.2),
        "breakers": BreakersResource(),
        "telegram": TelegramResource(),
    }
    result = night(pg_instance, resources, [STATIC])[STATIC]
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    info = failure.step_failure_data.user_failure_data
    assert "blocked" in info.description and "sd_xl_base_1.0.safetensors" in info.description
    assert info.metadata["missing_models"].value == "sd_xl_base_1.0.safetensors"
    assert server.stats()["prompts_posted"] == 1


def test_unreachable_comfyui_fails_clearly(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path]
) -> None:
    pg_instance.add_dynamic_partitions("job", [STATIC])
    resources = {
        "nightrun": NightrunResource(root=str(tree.root), max_renders_per_night=2),
        "comfyui": ComfyUIResource(urls="http://127.0.0.1:9", unavailable_timeout_s=1.0),
        "breakers": BreakersResource(),
        "telegram": TelegramResource(),
    }
    result = night(pg_instance, resources, [STATIC])[STATIC]
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "unreachable" in failure.step_failure_data.user_failure_data.description


def _logs(instance: dg.DagsterInstance, run_id: str) -> str:
    return "\n".join(e.user_message for e in instance.all_logs(run_id))


def test_stop_at_passed_renders_nothing_and_says_so_a_backfill_has_no_limit(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path], emulator
) -> None:
    pg_instance.add_dynamic_partitions("job", [STATIC])
    resources = {
        "nightrun": NightrunResource(root=str(tree.root), max_renders_per_night=3),
        "comfyui": ComfyUIResource(urls=emulator.url, poll_s=0.2),
        "breakers": BreakersResource(),
        "telegram": TelegramResource(),
    }
    assert dg.materialize(
        [night_plan], instance=pg_instance, partition_key=NIGHT, resources=resources
    ).success
    key = night_job_key(NIGHT, STATIC)
    passed = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    late = dg.materialize(
        [job_spec, variants, renders],
        instance=pg_instance,
        partition_key=key,
        resources=resources,
        tags={STOP_AT_TAG: passed},
    )
    assert late.success
    meta = late.asset_materializations_for_node("renders")[0].metadata
    assert meta["rendered"].value == 0
    assert emulator.stats()["prompts_posted"] == 0
    assert tree.job(NIGHT, STATIC).window_closed.is_file()
    assert "has already passed: nothing will be submitted" in _logs(pg_instance, late.run_id)

    # Launched again by hand without the tag: the night is over, so it renders the rest.
    by_hand = dg.materialize(
        [renders], instance=pg_instance, partition_key=key, resources=resources
    )
    assert by_hand.success
    meta = by_hand.asset_materializations_for_node("renders")[0].metadata
    index = json.loads(tree.job(NIGHT, STATIC).variants_index.read_bytes())
    assert meta["rendered"].value == index["count"] > 0
    assert not tree.job(NIGHT, STATIC).window_closed.exists()
    assert f"night {NIGHT}'s window is over: rendering what is left without a time limit" in (
        _logs(pg_instance, by_hand.run_id)
    )
