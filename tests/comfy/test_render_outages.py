"""ComfyUI outages against the emulator's restart faults: a restart is ridden out (every variant
rendered exactly once, no breaker), an outage longer than the patience trips `restart_loop`, so
do more than `restart_max` outages in the window, and a websocket drop alone is nothing.

Patience and back-off are scaled down; every duration below is derived from them."""

import asyncio
import threading
import time
from typing import Any

import pytest

from nightrun_dagster.comfy.render_loop import RenderUnavailable
from nightrun_dagster.night import breakers as b
from nightrun_dagster.night.guard import NightGuard, StopKind
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.variant_state import is_complete
from tests.comfy.render_helpers import FAST, NIGHT, make_run, plan
from tests.comfy.test_render_loop import assert_exactly_once

STATIC = "static_sdxl_ad.json"
BACKOFF_CAP = 0.2
PATIENCE = 5.0
OUTAGE = {"backoff_initial": 0.05, "backoff_max": BACKOFF_CAP, "outage_patience": PATIENCE}
# Today's rule tripped after 5 failed /prompt calls, backing off 0.05, 0.1, 0.2, 0.2 s.
OLD_BACKOFF_BUDGET = 0.05 + 0.1 + 0.2 + 0.2


def night_guard(tree: Tree, key: str, **thresholds: Any) -> NightGuard:
    """The restart_loop breaker at its defaults (unless given); the others out of the way."""
    config = b.BreakerConfig(
        **{"latency_image_s": 1000.0, "disk_free_min_gb": 0.0, "oom_max": 1000, **thresholds}
    )
    return NightGuard(tree.root, night=NIGHT, job=key, config=config)


def successes(server: Any, key: str, vid: str) -> int:
    return server.stats()["successes_by_prefix"].get(f"nightrun/{key}/{NIGHT}/{vid}", 0)


def test_a_restart_within_the_patience_is_ridden_out(tree: Tree, emulator_factory) -> None:
    # Down for most of the patience: longer than today's whole back-off, than many back-off
    # caps, and than `wait`'s own polling of an unreachable server (FAST.unavailable).
    down_s = 0.8 * PATIENCE
    assert down_s > OLD_BACKOFF_BUDGET and down_s > 10 * BACKOFF_CAP
    assert down_s > FAST.unavailable
    server = emulator_factory(render_ms=50, crash_after=3, restart_down_ms=int(down_s * 1000))
    found, job_dir, ids = plan(tree, STATIC, 8)
    notices: list[str] = []
    guard = night_guard(tree, found.key)
    run = make_run(found, job_dir, ids, server.url, guard=guard, on_notice=notices.append, **OUTAGE)
    report = asyncio.run(run.run())
    assert report.stopped is None and report.rendered == 8 and not report.failed
    assert server.stats()["crashes"] == 1
    assert_exactly_once(server, job_dir, ids, found.key)
    assert b.read_latch(tree.root) is None
    assert guard.monitor.tripped is None and len(guard.monitor.outages) == 1
    waiting = [n for n in notices if "unreachable since" in n]
    assert waiting and all("s of patience left)" in n for n in waiting)
    assert any("answers again" in n for n in notices)


def test_an_outage_longer_than_the_patience_trips_restart_loop(
    tree: Tree, emulator_factory
) -> None:
    patience = 1.0
    down_s = 3 * patience
    server = emulator_factory(render_ms=50, crash_after=3, restart_down_ms=int(down_s * 1000))
    found, job_dir, ids = plan(tree, STATIC, 8)
    guard = night_guard(tree, found.key)
    settings = {**OUTAGE, "outage_patience": patience}
    run = make_run(found, job_dir, ids, server.url, guard=guard, **settings)
    report = asyncio.run(run.run())
    assert report.stopped is not None and report.stopped.kind == StopKind.BREAKER
    latch = b.read_latch(tree.root)
    assert latch is not None and latch.breaker == b.RESTART_LOOP
    assert "outage patience (1 s)" in latch.reason
    # Nothing rendered twice; what the run left is exactly what is not rendered.
    done = [v for v in ids if is_complete(job_dir, v)]
    assert 1 <= len(done) < 8
    assert all(successes(server, found.key, v) <= 1 for v in ids)
    assert run.waiting_ids() == [v for v in ids if v not in done]

    # Once the server is back and someone resumes, the next run renders exactly the rest.
    server.wait_until_up(down_s + 10)
    b.resume(tree.root, by="test")
    rest = make_run(found, job_dir, ids, server.url, guard=night_guard(tree, found.key), **OUTAGE)
    again = asyncio.run(rest.run())
    assert again.stopped is None and sum(is_complete(job_dir, v) for v in ids) == 8
    assert_exactly_once(server, job_dir, ids, found.key)


def test_without_a_guard_an_outage_past_the_patience_fails_the_run(
    tree: Tree, emulator_factory
) -> None:
    patience = 1.0
    server = emulator_factory(render_ms=50, crash_after=2, restart_down_ms=int(3000 * patience))
    found, job_dir, ids = plan(tree, STATIC, 4)
    run = make_run(found, job_dir, ids, server.url, **{**OUTAGE, "outage_patience": patience})
    with pytest.raises(RenderUnavailable, match="longer than the outage patience"):
        asyncio.run(run.run())


def test_more_outages_than_restart_max_in_the_window_trip_restart_loop(
    tree: Tree, emulator_factory
) -> None:
    defaults = b.BreakerConfig()
    assert (defaults.restart_max, defaults.restart_window_s) == (3, 1800.0)
    # Down long enough that the loop sees each restart (it polls every FAST.poll seconds).
    down_ms = int(5 * FAST.poll * 1000)
    # Renders long enough that a restart after a harvest catches the next prompt mid-render
    # (a prompt that finished unharvested before a restart is lost with the history).
    server = emulator_factory(render_ms=300)
    found, job_dir, ids = plan(tree, STATIC, 12)
    guard = night_guard(tree, found.key)
    restarts: list[int] = []

    def restart_after_each_render(report: Any, remaining: int) -> None:
        # One restart at a time: the next once the last was seen and the server is back.
        seen = len(guard.monitor.outages) == len(restarts)
        if seen and server.is_up and len(restarts) < defaults.restart_max + 1:
            restarts.append(report.rendered)
            # Off the loop's thread: a crash closes connections the loop must answer.
            threading.Thread(target=server.restart, kwargs={"down_ms": down_ms}).start()

    run = make_run(found, job_dir, ids, server.url, guard=guard, **OUTAGE)
    run.on_progress = restart_after_each_render
    report = asyncio.run(run.run())
    assert len(restarts) == 4
    assert report.stopped is not None and report.stopped.kind == StopKind.BREAKER
    latch = b.read_latch(tree.root)
    assert latch.breaker == b.RESTART_LOOP and latch.value == 4 and latch.threshold == 3
    assert "4 outages in 30 min" in latch.reason
    assert all(successes(server, found.key, v) <= 1 for v in ids)
    assert report.rendered < 12


def test_three_outages_in_the_window_do_not_trip(tree: Tree, emulator_factory) -> None:
    down_ms = int(5 * FAST.poll * 1000)
    # Renders long enough that a restart after a harvest catches the next prompt mid-render
    # (a prompt that finished unharvested before a restart is lost with the history).
    server = emulator_factory(render_ms=300)
    found, job_dir, ids = plan(tree, STATIC, 8)
    guard = night_guard(tree, found.key)
    restarts: list[int] = []

    def restart_after_each_render(report: Any, remaining: int) -> None:
        seen = len(guard.monitor.outages) == len(restarts)
        if seen and server.is_up and len(restarts) < guard.config.restart_max:
            restarts.append(report.rendered)
            # Off the loop's thread: a crash closes connections the loop must answer.
            threading.Thread(target=server.restart, kwargs={"down_ms": down_ms}).start()

    run = make_run(found, job_dir, ids, server.url, guard=guard, **OUTAGE)
    run.on_progress = restart_after_each_render
    report = asyncio.run(run.run())
    assert len(restarts) == 3 and len(guard.monitor.outages) == 3
    assert report.stopped is None and report.rendered == 8
    assert_exactly_once(server, job_dir, ids, found.key)


def test_a_websocket_drop_alone_trips_nothing(tree: Tree, emulator_factory) -> None:
    # Renders longer than the client's first websocket reconnect delay (0.2 s), so the socket
    # is back for most renders' ends, also on a loaded machine.
    server = emulator_factory(render_ms=400)
    found, job_dir, ids = plan(tree, STATIC, 8)
    guard = night_guard(tree, found.key, restart_max=0)  # even one outage would trip
    notices: list[str] = []
    dropped: list[int] = []

    def drop_after_each_render(report: Any, remaining: int) -> None:
        if report.rendered > len(dropped) and remaining:
            dropped.append(server.drop_websockets())

    run = make_run(found, job_dir, ids, server.url, guard=guard, on_notice=notices.append, **OUTAGE)
    run.on_progress = drop_after_each_render
    report = asyncio.run(run.run())
    assert sum(dropped) >= 3  # (0: the websocket was still reconnecting from the last drop)
    assert report.stopped is None and report.rendered == 8 and not report.failed
    assert b.read_latch(tree.root) is None and not guard.monitor.outages and not notices
    assert_exactly_once(server, job_dir, ids, found.key)


def test_a_restart_during_a_download_is_ridden_out(tree: Tree, emulator_factory) -> None:
    # /view answers after `slow_view_ms`; the server restarts while the first download waits.
    slow_view_ms = 1500
    server = emulator_factory(render_ms=50, slow_view_ms=slow_view_ms)
    found, job_dir, ids = plan(tree, STATIC, 2)

    def restart_mid_download() -> None:
        while server.stats()["successes"] < 1:
            time.sleep(0.02)
        time.sleep(slow_view_ms / 1000 / 3)
        server.restart(down_ms=int(PATIENCE * 1000 / 3))

    restarter = threading.Thread(target=restart_mid_download)
    restarter.start()
    guard = night_guard(tree, found.key)
    run = make_run(found, job_dir, ids, server.url, queue_ahead=0, guard=guard, **OUTAGE)
    report = asyncio.run(run.run())
    restarter.join()
    assert server.stats()["restarts"] + server.stats()["crashes"] >= 1
    assert report.stopped is None and report.rendered == 2
    assert len(guard.monitor.outages) == 1
    assert_exactly_once(server, job_dir, ids, found.key)
