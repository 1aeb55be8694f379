"""The night's GPU turn: one job submits at a time, handed on the moment it has nothing left to
submit, highest priority waiter first; a dead holder does not block the night."""

import asyncio
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nightrun_dagster.night.gpu_turn import STALE_S, GpuTurn
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.turn_docs import GpuTurnState, TurnClaim, read_gpu_turn, write_gpu_turn

NIGHT = "2026-02-09"


def turn(tmp_path: Path, job: str, priority: int = 50) -> GpuTurn:
    return GpuTurn(Tree(tmp_path).night_dir(NIGHT), job, priority=priority, run=f"run-{job}")


def never() -> bool:
    return False


def test_the_next_run_waits_until_the_holder_hands_on(tmp_path: Path) -> None:
    async def night() -> list[str]:
        order: list[str] = []
        first, second = turn(tmp_path, "a"), turn(tmp_path, "b")
        assert await first.acquire(never)
        order.append("a took")
        waiting = asyncio.create_task(second.acquire(never))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # the turn is held: b waits, connected
        state = read_gpu_turn(Tree(tmp_path).night_dir(NIGHT))
        assert state.holder.job == "a" and [w.job for w in state.waiting] == ["b"]
        first.release()
        order.append("a released")
        assert await asyncio.wait_for(waiting, 2)
        order.append("b took")
        assert second.followed == "a"
        second.release()
        return order

    assert asyncio.run(night()) == ["a took", "a released", "b took"]
    assert read_gpu_turn(Tree(tmp_path).night_dir(NIGHT)).holder is None


def test_the_highest_priority_waiter_goes_first(tmp_path: Path) -> None:
    async def night() -> list[str]:
        holder = turn(tmp_path, "holder")
        assert await holder.acquire(never)
        took: list[str] = []

        async def wait(t: GpuTurn) -> None:
            await t.acquire(never)
            took.append(t.claim.job)
            await asyncio.sleep(0.3)
            t.release()

        low = asyncio.create_task(wait(turn(tmp_path, "low", priority=10)))
        await asyncio.sleep(0.3)  # low came first …
        high = asyncio.create_task(wait(turn(tmp_path, "high", priority=90)))
        await asyncio.sleep(0.3)
        holder.release()
        await asyncio.wait_for(asyncio.gather(low, high), 5)
        return took

    assert asyncio.run(night()) == ["high", "low"]  # … but high goes first


def test_a_run_ahead_of_its_phase_stands_in_line_but_blocks_no_one_before_it(
    tmp_path: Path,
) -> None:
    """The video run connected at 00:50 for 01:00 (priority 90) is in line from 00:50, so it
    goes before lower priorities once its phase opens, but until then the image runs (10)
    keep taking the turn."""
    night_dir = Tree(tmp_path).night_dir(NIGHT)
    opens = datetime.now(UTC) + timedelta(seconds=1.0)

    async def night() -> list[str]:
        took: list[str] = []
        video = GpuTurn(night_dir, "video", priority=90, not_before=opens)
        waiting_video = asyncio.create_task(video.acquire(never))
        await asyncio.sleep(0.3)
        state = read_gpu_turn(night_dir)
        assert state.holder is None and [w.job for w in state.waiting] == ["video"]
        assert state.waiting[0].not_before == opens
        image = turn(tmp_path, "image", priority=10)
        assert await asyncio.wait_for(image.acquire(never), 1)  # not blocked by the video
        took.append("image")
        later = turn(tmp_path, "later-image", priority=10)
        waiting_later = asyncio.create_task(later.acquire(never))
        await asyncio.sleep(0.9)  # the phase has opened; both wait for the image run
        image.release()
        await asyncio.wait_for(waiting_video, 2)
        took.append("video")
        assert not waiting_later.done()
        video.release()
        await asyncio.wait_for(waiting_later, 2)
        took.append("later-image")
        later.release()
        return took

    assert asyncio.run(night()) == ["image", "video", "later-image"]


def test_a_killed_holder_does_not_block_the_night(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = time.time()
    night_dir = Tree(tmp_path).night_dir(NIGHT)
    night_dir.path.mkdir(parents=True)
    claim = TurnClaim(job="killed", host=socket.gethostname(), pid=dead.pid, since=now, beat=now)
    write_gpu_turn(night_dir, GpuTurnState(holder=claim))
    t = turn(tmp_path, "next")
    assert asyncio.run(asyncio.wait_for(t.acquire(never), 2))
    assert t.followed == "killed"


def test_a_silent_holder_on_another_host_goes_stale(tmp_path: Path) -> None:
    night_dir = Tree(tmp_path).night_dir(NIGHT)
    night_dir.path.mkdir(parents=True)
    fresh = TurnClaim(job="elsewhere", host="other-host", pid=1, beat=time.time())
    write_gpu_turn(night_dir, GpuTurnState(holder=fresh))
    assert not turn(tmp_path, "next").try_take()
    stale = fresh.model_copy(update={"beat": time.time() - STALE_S - 1})
    write_gpu_turn(night_dir, GpuTurnState(holder=stale))
    assert turn(tmp_path, "next").try_take()


def test_a_run_whose_time_is_up_stops_waiting_and_leaves_the_line(tmp_path: Path) -> None:
    async def night() -> bool:
        holder = turn(tmp_path, "holder")
        assert await holder.acquire(never)
        calls = 0

        def time_is_up() -> bool:
            nonlocal calls
            calls += 1
            return calls > 3

        return await asyncio.wait_for(turn(tmp_path, "late").acquire(time_is_up), 2)

    assert asyncio.run(night()) is False
    state = read_gpu_turn(Tree(tmp_path).night_dir(NIGHT))
    assert state.waiting == [] and state.holder.job == "holder"


def test_a_damaged_turn_file_starts_afresh(tmp_path: Path) -> None:
    night_dir = Tree(tmp_path).night_dir(NIGHT)
    night_dir.path.mkdir(parents=True)
    night_dir.gpu_turn.write_text("{not json")
    assert turn(tmp_path, "a").try_take()
    assert read_gpu_turn(night_dir).holder.job == "a"


def test_the_next_holder_learns_when_the_last_ones_queue_is_done(tmp_path: Path) -> None:
    """A run that hands on with prompts still queued says when they are expected to be done:
    the next job's share of the slice starts then, not when it took the turn."""
    done_at = datetime.now(UTC) + timedelta(minutes=2)

    async def night() -> GpuTurn:
        first, second = turn(tmp_path, "a"), turn(tmp_path, "b")
        assert await first.acquire(never)
        waiting = asyncio.create_task(second.acquire(never))
        await asyncio.sleep(0.3)  # b waits in line: its polls keep what a will say
        first.release(busy_until=done_at)
        assert await asyncio.wait_for(waiting, 2)
        second.release()
        return second

    assert asyncio.run(night()).busy_until == done_at
    # A time already past says nothing: the GPU's queue is empty.
    past = turn(tmp_path, "c")
    write_gpu_turn(
        Tree(tmp_path).night_dir(NIGHT),
        GpuTurnState(busy_until=datetime.now(UTC) - timedelta(seconds=1)),
    )
    assert past.try_take() and past.busy_until is None
