"""The 22:45 warm-up against the emulator: health, blocked jobs with the missing names, a preload
prompt, and the disk and backlog breakers tripping before the first render."""

import json
from pathlib import Path

import dagster as dg

from nightrun_dagster.defs.assets.planning import night_plan
from nightrun_dagster.defs.assets.selection import night_summary
from nightrun_dagster.defs.assets.warmup import warm_up
from nightrun_dagster.defs.breakers import BreakersResource
from nightrun_dagster.defs.resources import ComfyUIResource, NightrunResource, TelegramResource
from nightrun_dagster.night import breakers as b
from nightrun_dagster.night.clock import Phase, decide
from nightrun_dagster.plan.probe import PRELOAD_PREFIX
from nightrun_dagster.store.paths import Tree

NIGHT = "2026-02-09"  # a Monday: exploration
STATIC = "verde-yerba-static-2026-02"
UI = "mitienda-checkout-ui-2026-02"
VIDEO = "verde-teaser-reel-2026-02"


def resources(tree: Tree, url: str, **thresholds) -> dict:
    return {
        "nightrun": NightrunResource(root=str(tree.root), max_renders_per_night=30),
        "comfyui": ComfyUIResource(urls=url, poll_s=0.2, unavailable_timeout_s=1.0),
        "breakers": BreakersResource(**{"disk_free_min_gb": 0.0, **thresholds}),
        "telegram": TelegramResource(),
    }


def warm(instance, res) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [warm_up, night_plan],
        instance=instance,
        partition_key=NIGHT,
        resources=res,
        raise_on_error=False,
    )


def check_of(result) -> dg.AssetCheckEvaluation:
    (evaluation,) = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return evaluation


def test_warm_up_blocks_a_job_missing_a_model_and_preloads_the_top_job(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path], emulator_factory
) -> None:
    server = emulator_factory(missing_models={"verde_brand_style.safetensors"})
    pg_instance.add_dynamic_partitions("job", [STATIC, UI, VIDEO])
    result = warm(pg_instance, resources(tree, server.url))
    assert result.success
    assert check_of(result).passed

    report = json.loads((tree.night(NIGHT) / "warmup.json").read_bytes())
    (srv,) = report["servers"]
    assert srv["reachable"] and srv["comfyui_version"]
    assert srv["devices"][0]["vram_total_mb"] == 10 * 1024
    assert list(report["blocked"]) == [STATIC]
    assert report["blocked"][STATIC]["missing_models"] == ["loras/verde_brand_style.safetensors"]

    plan = json.loads(tree.night_plan(NIGHT).read_bytes())
    by_key = {j["key"]: j for j in plan["jobs"]}
    assert by_key[STATIC]["budget"] == 0 and by_key[STATIC]["blocked"]["missing_models"]
    assert by_key[UI]["budget"] > 0 and by_key[UI]["blocked"] is None
    assert plan["warmup"] == "ran"
    meta = result.asset_materializations_for_node("night_plan")[0].metadata
    assert meta["blocked"].value == STATIC

    # The top job is blocked and the UI job's graph needs its screens uploaded first, so the
    # preload is the video job's graph at one step.
    assert srv["warnings"] == {}
    assert srv["preload"]["ok"] and srv["preload"]["job"] == VIDEO, srv["preload"]
    stats = server.stats()
    assert stats["executions"] == 1
    assert stats["successes_by_prefix"] == {PRELOAD_PREFIX: 1}


def test_disk_breaker_trips_at_warm_up_and_stops_the_plan(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path], emulator
) -> None:
    pg_instance.add_dynamic_partitions("job", [STATIC])
    result = warm(pg_instance, resources(tree, emulator.url, disk_free_min_gb=1e9))
    evaluation = check_of(result)
    assert not evaluation.passed and evaluation.blocking
    assert not tree.night_plan(NIGHT).exists()  # night_plan did not run after the failed check
    latch = b.read_latch(tree.root)
    assert latch.breaker == b.DISK and latch.night == NIGHT
    assert latch.extra["notified"].startswith("log only")
    # A full disk stops the GPU at once: no preload prompt reached ComfyUI.
    assert emulator.stats()["prompts_posted"] == 0
    report = json.loads((tree.night(NIGHT) / "warmup.json").read_bytes())
    assert "below" in report["servers"][0]["preload"]["skipped"]

    # The cool-down still runs (no plan, the latch is tonight's) and says why nothing rendered.
    cool = decide(Phase.cool_down, NIGHT, plan=None, latch=latch)
    assert cool.skip is None
    summary = dg.materialize(
        [night_summary],
        instance=pg_instance,
        partition_key=NIGHT,
        resources=resources(tree, emulator.url),
    )
    assert summary.success
    cut = json.loads((tree.night(NIGHT) / "night_summary.json").read_bytes())["cut_short"]
    assert cut["breaker"] == b.DISK and cut["tripped_at"] == latch.tripped_at
    assert cut["left"] == report["backlog"]["tonight"] > 0
    sheet = (tree.night(NIGHT) / "contact_sheet.html").read_text()
    assert "Night cut short: circuit breaker disk_free" in sheet


def test_a_latched_breaker_sends_no_preload(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path], emulator
) -> None:
    pg_instance.add_dynamic_partitions("job", [STATIC, UI, VIDEO])
    b.latch(tree.root, b.Trip(b.OOM, "4 OOMs", 4, 3), night="2026-02-08", job=STATIC)
    result = warm(pg_instance, resources(tree, emulator.url))
    assert emulator.stats()["prompts_posted"] == 0  # the health questions only
    report = json.loads((tree.night(NIGHT) / "warmup.json").read_bytes())
    (srv,) = report["servers"]
    assert srv["reachable"] and "gpu_oom" in srv["preload"]["skipped"]
    assert not check_of(result).passed


def test_backlog_breaker_at_warm_up_trips_over_its_limit_only(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path], emulator
) -> None:
    pg_instance.add_dynamic_partitions("job", [STATIC])
    fits = warm(pg_instance, resources(tree, emulator.url, backlog_max=30))
    assert fits.success and b.read_latch(tree.root) is None
    report = json.loads((tree.night(NIGHT) / "warmup.json").read_bytes())
    waiting = report["backlog"]["tonight"]
    assert waiting == 30  # the static job alone wants more than the night's 30

    over = warm(pg_instance, resources(tree, emulator.url, backlog_max=waiting - 1))
    assert not check_of(over).passed
    assert b.read_latch(tree.root).breaker == b.BACKLOG


def test_unreachable_comfyui_warns_but_still_plans(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path]
) -> None:
    pg_instance.add_dynamic_partitions("job", [UI])
    result = warm(pg_instance, resources(tree, "http://127.0.0.1:9"))
    evaluation = check_of(result)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert result.success and tree.night_plan(NIGHT).is_file()
    report = json.loads((tree.night(NIGHT) / "warmup.json").read_bytes())
    assert not report["servers"][0]["reachable"] and report["servers"][0]["error"]
    assert b.read_latch(tree.root) is None
