"""Job boundaries on one GPU: the next job's run, connected while the first renders, queues its
first prompt the moment the first has submitted its last, so the GPU never waits for it."""

import asyncio
import itertools
import time
from typing import Any

from nightrun_dagster.night.gpu_turn import GpuTurn
from nightrun_dagster.night.guard import NightGuard
from nightrun_dagster.store.paths import Tree
from tests.comfy.render_helpers import NIGHT, make_run, plan


def two_jobs(
    tree: Tree, url: str, turns: bool, render_s: float | None = None
) -> tuple[list[tuple[str, float]], list[Any]]:
    """Render two jobs at once, as two runs the pool let start together; returns every
    completion (job, when) in order and both reports (and, with `turns`, both turns)."""
    events: list[tuple[str, float]] = []
    runs = []
    held: list[GpuTurn] = []
    for example, priority in (("static_sdxl_ad.json", 70), ("ui_anchored_ad.json", 50)):
        found, job_dir, ids = plan(tree, example, 5)
        key = found.key
        hooks: dict[str, Any] = {
            "on_progress": lambda report, left, key=key: events.append((key, time.monotonic()))
        }
        if turns:
            hooks["turn"] = GpuTurn(tree.night_dir(NIGHT), key, priority=priority, run=key)
            held.append(hooks["turn"])
        if render_s is not None:
            hooks["guard"] = NightGuard(tree.root, night=NIGHT, job=key)
            hooks["guard"].render_s = render_s
        runs.append((key, make_run(found, job_dir, ids, url, **hooks)))

    async def night() -> list[Any]:
        first = asyncio.create_task(runs[0][1].run())
        await asyncio.sleep(0.3)  # the second run starts while the first renders
        return await asyncio.gather(first, runs[1][1].run())

    reports = asyncio.run(night())
    return events, [*reports, *held]


def test_the_next_job_queues_behind_the_last_prompt_of_the_first(emulator_factory, tree) -> None:
    server = emulator_factory(render_ms=200)
    events, (first, second, *_) = two_jobs(tree, server.url, turns=True)
    assert first.rendered == 5 and second.rendered == 5
    jobs = [job for job, _ in events]
    # One job after the other: the turn kept their prompts apart …
    assert jobs == [jobs[0]] * 5 + [jobs[-1]] * 5 and jobs[0] != jobs[-1]
    # … and the second's first prompt was on the server before the first's last one ended.
    assert second.first_submit < first.last_harvest
    # No gap at the boundary: the GPU went straight from one job to the next.
    stats = server.stats()
    assert stats["max_gap_seconds"] < 0.1


def test_without_the_turn_two_runs_interleave_on_the_gpu(emulator_factory, tree) -> None:
    server = emulator_factory(render_ms=200)
    events, _ = two_jobs(tree, server.url, turns=False)
    jobs = [job for job, _ in events]
    switches = sum(1 for a, b in itertools.pairwise(jobs) if a != b)
    assert switches > 1  # what the turn prevents


def test_the_next_job_hears_when_the_last_ones_queue_will_be_done(emulator_factory, tree) -> None:
    """The first run hands on with its last prompts still queued and says when they will be
    done (its render time × what it left queued): the second's share starts then."""
    server = emulator_factory(render_ms=200)
    events, (first, second, _, second_turn) = two_jobs(tree, server.url, True, render_s=0.2)
    assert first.rendered == 5 and second.rendered == 5
    assert second_turn.busy_until is not None
    first_done = max(t for job, t in events if job == events[0][0])
    # Said within a render or so of when the first job's last render really ended.
    said = second_turn.busy_until.timestamp() - (time.time() - time.monotonic())
    assert abs(said - first_done) < 1.0


def test_a_run_that_waited_for_the_turn_does_not_redo_what_the_job_got_meanwhile(
    emulator_factory, tree
) -> None:
    """Two runs of one job (an earlier phase's still rendering when the next phase's connects
    ahead): the second plans while the first renders, waits for the turn, then finds every
    variant done; nothing is rendered twice."""
    server = emulator_factory(render_ms=150)
    found, job_dir, ids = plan(tree, "static_sdxl_ad.json", 8)
    progress: list[int] = []
    runs = [
        make_run(
            found,
            job_dir,
            ids,
            server.url,
            turn=GpuTurn(tree.night_dir(NIGHT), found.key, priority=50, run=run),
            on_progress=(lambda report, left: progress.append(report.rendered)) if i == 0 else None,
        )
        for i, run in enumerate(("earlier", "later"))
    ]

    async def night() -> list[Any]:
        first = asyncio.create_task(runs[0].run())
        while len(progress) < 3:  # the second plans with some done, some on the server
            await asyncio.sleep(0.02)
        return await asyncio.gather(first, runs[1].run())

    first, second = asyncio.run(night())
    assert first.rendered == 8
    assert second.rendered == 0 and second.skipped == 8 and not second.failed
    assert server.stats()["prompts_posted"] == 8
