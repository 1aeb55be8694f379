"""Circuit breakers inside the render loop, driven by emulator faults: each one trips at its
threshold and not below, stops submitting at once, latches, and a stopped loop takes back what
was still waiting in the server's queue."""

import asyncio
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nightrun_dagster.night import breakers as b
from nightrun_dagster.night.guard import NightGuard, StopKind
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.variant_state import is_complete
from tests.comfy.render_helpers import NIGHT, make_run, plan, render

STATIC = "static_sdxl_ad.json"


def guard(tree: Tree, key: str, **thresholds: Any) -> NightGuard:
    extra = {k: thresholds.pop(k) for k in ("stop_at", "free_bytes", "now") if k in thresholds}
    # Loose defaults so only the breaker under test can trip.
    config = b.BreakerConfig(
        **{
            "oom_max": 1000,
            "latency_image_s": 1000.0,
            "disk_free_min_gb": 0.0,
            "failure_min_samples": 1000,
            "restart_max": 1000,
            **thresholds,
        }
    )
    return NightGuard(tree.root, night=NIGHT, job=key, config=config, **extra)


def rendered(job_dir: Any, ids: list[str]) -> int:
    return sum(is_complete(job_dir, v) for v in ids)


def assert_stopped_after(server: Any, report: Any, trip_at: int) -> None:
    """The breaker tripped on the `trip_at`-th result: at most the one prompt already running
    then finished; nothing was submitted after, and everything submitted was accounted for."""
    posted = server.stats()["prompts_posted"]
    assert trip_at <= posted <= trip_at + 1
    assert server.stats()["executions"] == posted
    assert report.rendered + len(report.failed) == posted
    assert report.rendered + len(report.failed) < report.total


def test_oom_breaker_trips_over_its_limit_and_not_at_it(tree: Tree, emulator_factory) -> None:
    # Every 2nd execution OOMs and the ladder has one rung: 3 OOMs among 6 variants.
    found, job_dir, ids = plan(tree, STATIC, 6)
    server = emulator_factory(oom_every=2)
    at_limit = guard(tree, found.key, oom_max=3)
    report = render(
        found, job_dir, ids, server.url, queue_ahead=0, degrade_rungs=("none",), guard=at_limit
    )
    assert report.outcomes["oom"] == 3 and report.stopped is None
    assert b.read_latch(tree.root) is None

    shutil.rmtree(tree.root / "runs")
    found, job_dir, ids = plan(tree, STATIC, 12)
    server = emulator_factory(oom_every=2)
    over = guard(tree, found.key, oom_max=2)
    report = render(
        found, job_dir, ids, server.url, queue_ahead=0, degrade_rungs=("none",), guard=over
    )
    assert report.stopped is not None and report.stopped.kind == StopKind.BREAKER
    # The third OOM (the 6th execution) tripped it: only the prompt already running after it
    # finished, nothing more was submitted.
    assert_stopped_after(server, report, trip_at=6)
    latch = b.read_latch(tree.root)
    assert latch is not None and latch.breaker == b.OOM and latch.job == found.key
    assert latch.value == 3 and latch.threshold == 2
    assert over.created_latch


def test_latency_breaker(tree: Tree, emulator_factory) -> None:
    found, job_dir, ids = plan(tree, STATIC, 4)
    server = emulator_factory(render_ms=150)
    slow_ok = guard(tree, found.key, latency_image_s=30.0, latency_samples=2)
    assert render(found, job_dir, ids, server.url, queue_ahead=0, guard=slow_ok).stopped is None

    shutil.rmtree(tree.root / "runs")
    found, job_dir, ids = plan(tree, STATIC, 8)
    server = emulator_factory(render_ms=150)
    too_slow = guard(tree, found.key, latency_image_s=0.1, latency_samples=2)
    report = render(found, job_dir, ids, server.url, queue_ahead=0, guard=too_slow)
    assert report.stopped is not None and report.stopped.kind == StopKind.BREAKER
    assert_stopped_after(server, report, trip_at=2)  # the mean of the first two was over
    assert b.read_latch(tree.root).breaker == b.LATENCY


def test_failure_rate_breaker(tree: Tree, emulator_factory) -> None:
    # Every 2nd execution fails with a node error: the rate is exactly 50 %.
    found, job_dir, ids = plan(tree, STATIC, 8)
    server = emulator_factory(error_every=2)
    at_rate = guard(tree, found.key, failure_rate_max=0.5, failure_window=4, failure_min_samples=4)
    report = render(found, job_dir, ids, server.url, queue_ahead=0, guard=at_rate)
    assert report.stopped is None and len(report.failed) == 4 and report.rendered == 4

    shutil.rmtree(tree.root / "runs")
    found, job_dir, ids = plan(tree, STATIC, 12)
    server = emulator_factory(error_every=2)
    over_rate = guard(
        tree, found.key, failure_rate_max=0.49, failure_window=4, failure_min_samples=4
    )
    report = render(found, job_dir, ids, server.url, queue_ahead=0, guard=over_rate)
    assert report.stopped is not None
    assert_stopped_after(server, report, trip_at=4)
    latch = b.read_latch(tree.root)
    assert latch.breaker == b.FAILURE_RATE and latch.value == 0.5


def test_restart_loop_breaker(tree: Tree, emulator_factory) -> None:
    # Each HTTP 500 from /prompt (the server answering /system_stats meanwhile) is one short
    # outage; the breaker counts outages in its window, not failed calls in a row.
    found, job_dir, ids = plan(tree, STATIC, 3)
    server = emulator_factory(prompt_failures=3)
    tolerant = guard(tree, found.key, restart_max=3)
    report = render(
        found, job_dir, ids, server.url, queue_ahead=0, guard=tolerant, backoff_initial=0.01
    )
    assert report.stopped is None and report.rendered == 3
    assert server.stats()["prompts_failed"] == 3

    shutil.rmtree(tree.root / "runs")
    found, job_dir, ids = plan(tree, STATIC, 3)
    server = emulator_factory(prompt_failures=10)
    strict = guard(tree, found.key, restart_max=3)
    report = render(
        found, job_dir, ids, server.url, queue_ahead=0, guard=strict, backoff_initial=0.01
    )
    assert report.stopped is not None and report.rendered == 0
    assert server.stats()["prompts_failed"] == 4  # no fifth try: the loop stopped
    latch = b.read_latch(tree.root)
    assert latch.breaker == b.RESTART_LOOP and "4 outages in 30 min" in latch.reason
    for vid in ids:  # nothing was left marked as submitted
        assert not (job_dir.meta(vid) / "submitted.json").exists()


def test_disk_breaker_is_checked_before_the_first_submit(tree: Tree, emulator) -> None:
    free = shutil.disk_usage(tree.root).free / b.GB
    found, job_dir, ids = plan(tree, STATIC, 2)
    enough = guard(tree, found.key, disk_free_min_gb=max(0.0, free - 1))
    assert render(found, job_dir, ids, emulator.url, guard=enough).rendered == 2

    shutil.rmtree(tree.root / "runs")
    found, job_dir, ids = plan(tree, STATIC, 2)
    posted = emulator.stats()["prompts_posted"]
    short = guard(tree, found.key, disk_free_min_gb=free + 1)
    report = render(found, job_dir, ids, emulator.url, guard=short)
    assert report.stopped.kind == StopKind.BREAKER and report.rendered == 0
    assert emulator.stats()["prompts_posted"] == posted
    assert b.read_latch(tree.root).breaker == b.DISK


def test_backlog_breaker(tree: Tree, emulator) -> None:
    found, job_dir, ids = plan(tree, STATIC, 3)
    fits = guard(tree, found.key, backlog_max=3)
    assert render(found, job_dir, ids, emulator.url, guard=fits).rendered == 3

    shutil.rmtree(tree.root / "runs")
    found, job_dir, ids = plan(tree, STATIC, 3)
    too_many = guard(tree, found.key, backlog_max=2)
    report = render(found, job_dir, ids, emulator.url, guard=too_many)
    assert report.stopped.kind == StopKind.BREAKER and report.rendered == 0
    latch = b.read_latch(tree.root)
    assert latch.breaker == b.BACKLOG and latch.value == 3


def test_a_latch_stops_every_other_loop_until_resumed(tree: Tree, emulator) -> None:
    b.latch(tree.root, b.Trip(b.OOM, "4 OOMs", 4, 3), night=NIGHT, job="other-job")
    found, job_dir, ids = plan(tree, STATIC, 2)
    posted = emulator.stats()["prompts_posted"]
    latched = guard(tree, found.key)
    report = render(found, job_dir, ids, emulator.url, guard=latched)
    assert report.stopped.kind == StopKind.LATCHED and "other-job" in report.stopped.reason
    assert not latched.created_latch
    assert emulator.stats()["prompts_posted"] == posted

    assert b.resume(tree.root, by="test").breaker == b.OOM
    history = b.history_path(tree.root).read_text().splitlines()
    assert json.loads(history[-1])["resumed_by"] == "test"
    report = render(found, job_dir, ids, emulator.url, guard=guard(tree, found.key))
    assert report.stopped is None and report.rendered == 2


def test_window_close_takes_back_queued_prompts_and_finishes_the_running_one(
    tree: Tree, emulator_factory
) -> None:
    found, job_dir, ids = plan(tree, STATIC, 10)
    server = emulator_factory(render_ms=300)
    start = datetime.now(UTC)
    closes = guard(tree, found.key, stop_at=start + timedelta(seconds=0.8))
    run = make_run(found, job_dir, ids, server.url, queue_ahead=2, guard=closes)
    report = asyncio.run(run.run())
    assert report.stopped.kind == StopKind.WINDOW
    done = rendered(job_dir, ids)
    assert 1 <= done < 10
    stats = server.stats()
    # What was still queued was taken back, not rendered: executions == renders.
    assert stats["executions"] == done
    assert report.taken_back >= 1
    assert b.read_latch(tree.root) is None  # closing the window is not a fault
    for vid in ids:
        if not is_complete(job_dir, vid):
            assert not (job_dir.meta(vid) / "submitted.json").exists()
    # What the run says is left is exactly what is not rendered.
    assert run.waiting_ids() == [v for v in ids if not is_complete(job_dir, v)]
    # The next run (the next slice) renders exactly the rest.
    report = render(found, job_dir, ids, server.url, guard=guard(tree, found.key))
    assert report.rendered == 10 - done and rendered(job_dir, ids) == 10


def test_a_window_closing_ahead_lets_the_queue_run_and_submits_nothing_after(
    tree: Tree, emulator_factory
) -> None:
    """Knowing a render takes 0.3 s, the loop stops submitting once another prompt would only
    start after the window closes; what it queued before starts in time, so nothing is taken
    back (a video clip queued at 02:56 no longer runs past 03:00 into the image slice)."""
    found, job_dir, ids = plan(tree, STATIC, 10)
    server = emulator_factory(render_ms=300)
    closes = guard(tree, found.key, stop_at=datetime.now(UTC) + timedelta(seconds=1.0))
    closes.render_s = 0.3
    run = make_run(found, job_dir, ids, server.url, queue_ahead=2, guard=closes)
    report = asyncio.run(run.run())
    assert report.stopped.kind == StopKind.WINDOW and report.stopped.drain
    assert "before another render could start" in report.stopped.reason
    done = rendered(job_dir, ids)
    assert 1 <= done < 10
    stats = server.stats()
    assert report.taken_back == 0 and stats["prompts_posted"] == stats["executions"] == done
    assert run.waiting_ids() == [v for v in ids if not is_complete(job_dir, v)]


def test_unreadable_latch_still_stops(tree: Tree) -> None:
    path = b.latch_path(tree.root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    latch = b.read_latch(tree.root)
    assert latch is not None and "unreadable" in latch.reason
    assert Path(path).exists()
