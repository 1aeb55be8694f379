"""The render loop against the emulator: exactly once, every fault, nothing partial."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from nightrun_dagster.comfy.client import Timeouts
from nightrun_dagster.comfy.render_loop import (
    JobBlocked,
    RenderRun,
    RenderSettings,
    RenderUnavailable,
)
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.variant_docs import read_comfy_history
from nightrun_dagster.store.variant_state import is_complete
from nightrun_dagster.workflows.apply import DEGRADE_LADDER, build_graph
from tests.comfy.render_helpers import FAST, NIGHT, RUNGS, plan, render


def assert_exactly_once(server: Any, job_dir: JobDir, ids: list[str], key: str) -> None:
    """Every variant complete, rendered by exactly one successful execution, nothing partial."""
    stats = server.stats()
    for vid in ids:
        assert is_complete(job_dir, vid), vid
        prefix = f"nightrun/{key}/{NIGHT}/{vid}"
        assert stats["successes_by_prefix"].get(prefix) == 1, (vid, stats["successes_by_prefix"])
        leftovers = [p.name for p in job_dir.variant(vid).rglob(".*")]
        assert leftovers == [], leftovers


def test_renders_every_variant_with_sidecars(emulator, tree: Tree) -> None:
    found, job_dir, ids = plan(tree, "static_sdxl_ad.json", 6)
    report = render(found, job_dir, ids, emulator.url)
    assert report.rendered == 6 and not report.failed and report.skipped == 0
    assert_exactly_once(emulator, job_dir, ids, found.key)
    params = json.loads(job_dir.params(ids[0]).read_bytes())
    r = params["render"]
    assert r["status"] == "ok" and r["attempt"] == 1 and r["degrade_rung"] == "none"
    assert r["endpoint"] == emulator.url and r["elapsed_s"] > 0
    out = r["outputs"][0]
    assert out["file"] == "out/img_0001.png" and out["preview"] == "out/img_0001.preview.jpg"
    assert (job_dir.variant(ids[0]) / "meta" / "prompt.json").is_file()
    history = read_comfy_history(job_dir.variant_dir(ids[0])).prompts()
    assert list(history) == [r["prompt_id"]]
    assert params["server"]["comfyui_version"] == "0.3.64"
    sent = json.loads((job_dir.meta(ids[0]) / "prompt.json").read_bytes())
    assert sent[found.template.metadata["nodes"]["latent"]]["inputs"]["width"] == 256
    assert report.duty_cycle is not None and 0 < report.duty_cycle <= 1.05

    again = render(found, job_dir, ids, emulator.url)
    assert again.skipped == 6 and again.rendered == 0
    assert emulator.stats()["executions"] == 6


def test_one_oom_then_degraded_retry_succeeds(emulator_factory, tree: Tree) -> None:
    server = emulator_factory(oom_max_pixels=256 * 320 - 1)  # full size OOMs, 75 % fits
    found, job_dir, ids = plan(tree, "static_sdxl_ad.json", 3)
    report = render(found, job_dir, ids, server.url)
    assert report.rendered == 3 and report.outcomes["oom"] == 3
    assert server.stats()["frees"] >= 3
    for vid in ids:
        r = json.loads(job_dir.params(vid).read_bytes())["render"]
        assert r["degrade_rung"] == "resolution_75" and r["attempt"] == 2
        assert [a.get("result") for a in r["attempts"]] == ["oom", "ok"]
    assert_exactly_once(server, job_dir, ids, found.key)


def test_ladder_exhausted_variant_failed_and_recorded(emulator_factory, tree: Tree) -> None:
    server = emulator_factory(oom_max_pixels=1)
    found, job_dir, ids = plan(tree, "static_sdxl_ad.json", 2)
    report = render(found, job_dir, ids, server.url)
    assert report.rendered == 0 and set(report.failed) == set(ids)
    assert server.stats()["ooms"] == 2 * len(DEGRADE_LADDER)
    for vid in ids:
        r = json.loads(job_dir.params(vid).read_bytes())["render"]
        assert r["status"] == "failed" and "degrade ladder" in r["error"]
        assert len(r["attempts"]) == len(DEGRADE_LADDER)
        assert not is_complete(job_dir, vid)
        assert not (job_dir.out(vid)).exists() or not any(job_dir.out(vid).iterdir())


def test_stall_is_interrupted_and_retried(emulator_factory, tree: Tree) -> None:
    server = emulator_factory(stall_prompts={1})
    found, job_dir, ids = plan(tree, "static_sdxl_ad.json", 3)
    quick = Timeouts(connect=2, request=5, stall=0.8, poll=0.1, unavailable=3)
    report = render(found, job_dir, ids, server.url, timeouts=quick, queue_ahead=0)
    assert report.outcomes["stalled"] == 1 and report.rendered == 3
    assert server.stats()["interrupted"] >= 1
    assert_exactly_once(server, job_dir, ids, found.key)


def test_restart_with_history_loss_resubmits_lost_prompts(emulator_factory, tree: Tree) -> None:
    server = emulator_factory(render_ms=80, crash_after=3, restart_down_ms=300)
    found, job_dir, ids = plan(tree, "static_sdxl_ad.json", 8)
    report = render(found, job_dir, ids, server.url)
    assert report.rendered == 8
    assert report.outcomes["lost"] >= 1
    assert server.stats()["crashes"] == 1
    assert_exactly_once(server, job_dir, ids, found.key)


def test_missing_model_blocks_the_job_at_once(emulator_factory, tree: Tree) -> None:
    server = emulator_factory(missing_models={"sd_xl_base_1.0.safetensors"})
    found, job_dir, ids = plan(tree, "static_sdxl_ad.json", 4)
    with pytest.raises(JobBlocked) as info:
        render(found, job_dir, ids, server.url)
    assert info.value.models == ["sd_xl_base_1.0.safetensors"]
    blocked = json.loads(job_dir.blocked.read_bytes())
    assert blocked["missing_models"] == ["sd_xl_base_1.0.safetensors"]
    stats = server.stats()
    assert stats["prompts_posted"] == 1 and stats["executions"] == 0  # no retries


def test_unreachable_server_fails_clearly(tree: Tree) -> None:
    found, job_dir, ids = plan(tree, "static_sdxl_ad.json", 2)
    started = time.monotonic()
    with pytest.raises(RenderUnavailable, match="unreachable"):
        render(found, job_dir, ids, "http://127.0.0.1:9", unavailable_timeout=1.5)
    assert time.monotonic() - started < 20
    assert not any(is_complete(job_dir, vid) for vid in ids)


def test_ui_anchored_uploads_inputs(emulator, tree: Tree) -> None:
    found, job_dir, ids = plan(tree, "ui_anchored_ad.json", 2)
    report = render(found, job_dir, ids, emulator.url)
    assert report.rendered == 2
    assert emulator.stats()["uploads"] == 2  # product image and base screenshot, once each
    sent = json.loads((job_dir.meta(ids[0]) / "prompt.json").read_bytes())
    loads = [n["inputs"]["image"] for n in sent.values() if n["class_type"] == "LoadImage"]
    assert sorted(loads) == sorted(
        f"nightrun/{name}" for name in ("product_yerba.png", "ui_checkout_screen.png")
    )
    assert_exactly_once(emulator, job_dir, ids, found.key)


def test_video_variant_gets_mp4_and_poster(emulator, tree: Tree) -> None:
    found, job_dir, ids = plan(tree, "video_teaser.json", 1, size=(256, 144), frames=9)
    report = render(found, job_dir, ids, emulator.url)
    assert report.rendered == 1
    r = json.loads(job_dir.params(ids[0]).read_bytes())["render"]
    assert r["outputs"][0]["file"] == "out/vid_0001.mp4"
    assert r["outputs"][0]["preview"] == "out/vid_0001.poster.jpg"
    mp4 = job_dir.variant(ids[0]) / "out" / "vid_0001.mp4"
    assert mp4.read_bytes()[4:8] == b"ftyp"


KILLABLE = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from nightrun_dagster.comfy.render_loop import RenderRun, RenderSettings
    from nightrun_dagster.intake.validate import Intake
    from nightrun_dagster.plan.inputs import load_snapshot
    from nightrun_dagster.store.paths import JobDir
    from nightrun_dagster.workflows.apply import DEGRADE_LADDER, build_graph

    job_dir, url, assets = JobDir(Path(sys.argv[1])), sys.argv[2], Path(sys.argv[3])
    found = load_snapshot(job_dir, Intake(assets_root=assets))
    ids = json.loads(job_dir.variants_index.read_bytes())["variants"]
    build = lambda p, r, u: build_graph(found.template, p, job=found.job, uploads=u,
                                        degrade=DEGRADE_LADDER[r])
    asyncio.run(RenderRun(job_dir, ids, [url], build, settings=RenderSettings()).run())
    """
)


def test_sigkill_half_way_then_rerun_renders_each_variant_once(
    emulator_factory, tree: Tree
) -> None:
    server = emulator_factory(render_ms=150)
    found, job_dir, ids = plan(tree, "static_sdxl_ad.json", 12)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLABLE, str(job_dir.path), server.url, str(tree.assets)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 60
    while sum(is_complete(job_dir, v) for v in ids) < 4:
        assert proc.poll() is None, "the render finished before it could be killed"
        assert time.monotonic() < deadline, "no progress to kill"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sum(is_complete(job_dir, v) for v in ids)
    assert done_before < len(ids)

    report = render(found, job_dir, ids, server.url)
    assert report.skipped == done_before
    assert report.rendered + report.skipped == len(ids)
    # Prompts the killed run had queued were picked up, not submitted again.
    assert report.resumed >= 1
    assert_exactly_once(server, job_dir, ids, found.key)


def test_two_endpoints_share_the_work(emulator_factory, tree: Tree) -> None:
    a, b = emulator_factory(render_ms=60), emulator_factory(render_ms=60)
    found, job_dir, ids = plan(tree, "static_sdxl_ad.json", 10)

    def build(params: dict[str, Any], rung: int, uploads: Any) -> dict[str, Any]:
        return build_graph(found.template, params, job=found.job, uploads=uploads)

    run = RenderRun(
        job_dir,
        ids,
        [a.url, b.url],
        build,
        settings=RenderSettings(degrade_rungs=RUNGS),
        timeouts=FAST,
    )
    report = asyncio.run(run.run())
    assert report.rendered == 10
    done_a, done_b = a.stats()["successes"], b.stats()["successes"]
    assert done_a > 0 and done_b > 0 and done_a + done_b == 10
    endpoints = {json.loads(job_dir.params(v).read_bytes())["render"]["endpoint"] for v in ids}
    assert endpoints == {a.url, b.url}
    for vid in ids:
        assert is_complete(job_dir, vid)
