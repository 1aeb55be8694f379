"""Whose render run submits to the GPU: one job at a time per night, handed over the moment the
holder has nothing left to submit, so the next job's prompts queue behind its last ones."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from nightrun_dagster.night import time_scale
from nightrun_dagster.store.paths import NightDir
from nightrun_dagster.store.turn_docs import GpuTurnState, TurnClaim, read_gpu_turn, write_gpu_turn

# A claim not renewed for this long belongs to a run that died: the next one goes on.
STALE_S = 30.0
BEAT_S = 1.0
POLL_S = 0.1


@contextlib.contextmanager
def _locked(night_dir: NightDir) -> Iterator[GpuTurnState]:
    night_dir.path.mkdir(parents=True, exist_ok=True)
    with night_dir.gpu_turn_lock.open("a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield read_gpu_turn(night_dir)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _alive(claim: TurnClaim, now: float) -> bool:
    if now - claim.beat > STALE_S:
        return False
    if claim.host == socket.gethostname() and claim.pid:
        try:
            os.kill(claim.pid, 0)
        except ProcessLookupError:
            return False  # killed: no need to wait for its claim to go stale
        except PermissionError:
            pass
    return True


class GpuTurn:
    """One render run's place in the night's turn. The Dagster pool `comfyui_gpu` lets the next
    run start (connect, upload) while one renders; the turn keeps their prompts apart: the
    waiting run submits only once the holder has submitted its last prompt (or stopped), the
    highest priority waiter first, then the one that came first."""

    def __init__(
        self,
        night_dir: NightDir,
        job: str,
        *,
        priority: int = 0,
        run: str = "",
        not_before: datetime | None = None,
        now: Callable[[], datetime] = time_scale.now,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.night_dir = night_dir
        self.claim = TurnClaim(
            job=job,
            run=run,
            priority=priority,
            host=socket.gethostname(),
            pid=os.getpid(),
            since=clock(),
            not_before=not_before,
        )
        self.clock = clock
        self.not_before = not_before
        self.now = now
        self.held = False
        self.waited_s = 0.0
        self.followed: str | None = None  # the job that held the turn before this one
        # When the prompts the last holder left queued are expected to be done (None: now).
        self.busy_until: datetime | None = None
        self._beat: asyncio.Task[None] | None = None

    def _mine(self, claim: TurnClaim | None) -> bool:
        return claim is not None and (claim.job, claim.run, claim.pid) == (
            self.claim.job,
            self.claim.run,
            self.claim.pid,
        )

    def _others(self, state: GpuTurnState, now: float) -> list[TurnClaim]:
        """The live waiters other than this run."""
        return [w for w in state.waiting if not self._mine(w) and _alive(w, now)]

    def try_take(self) -> bool:
        """Take the turn if it is free and no better waiter is alive; else wait in line."""
        now = self.clock()
        me = self.claim.model_copy(update={"beat": now})
        with _locked(self.night_dir) as state:
            holder = state.holder
            if holder is not None and not self._mine(holder) and not _alive(holder, now):
                holder = None
            others = self._others(state, now)
            night_now = self.now()
            ahead = [
                w
                for w in others
                if (-w.priority, w.since) < (-me.priority, me.since)
                and (w.not_before is None or w.not_before <= night_now)
            ]
            if (holder is None or self._mine(holder)) and not ahead:
                if state.holder is not None and not self._mine(state.holder):
                    self.followed = state.holder.job
                if state.busy_until is not None and state.busy_until > night_now:
                    self.busy_until = state.busy_until
                write_gpu_turn(self.night_dir, GpuTurnState(holder=me, waiting=others))
                self.held = True
                return True
            if holder is not None and not self._mine(holder):
                self.followed = holder.job
            write_gpu_turn(
                self.night_dir,
                GpuTurnState(holder=holder, waiting=[*others, me], busy_until=state.busy_until),
            )
            return False

    async def acquire(self, give_up: Callable[[], bool]) -> bool:
        """Wait for the turn (not before `not_before`: a run requested ahead of its phase waits,
        connected, for the phase to open); False when `give_up` says the run will submit
        nothing anyway."""
        started = time.monotonic()
        while self.not_before is not None and self.now() < self.not_before:
            if give_up():
                self.leave()
                return False
            # In line already: when the phase opens, the highest priority goes first, not the
            # run that happens to poll first.
            self.queue_up()
            await asyncio.sleep(POLL_S)
        while not self.try_take():
            if give_up():
                self.leave()
                return False
            await asyncio.sleep(POLL_S)
        self.waited_s = time.monotonic() - started
        self._beat = asyncio.create_task(self._keep_alive())
        return True

    async def _keep_alive(self) -> None:
        while self.held:
            await asyncio.sleep(BEAT_S)
            with _locked(self.night_dir) as state:
                if self._mine(state.holder):
                    state.holder = self.claim.model_copy(update={"beat": self.clock()})
                    write_gpu_turn(self.night_dir, state)

    def queue_up(self) -> None:
        """Stand in line (or say it is still alive there) without taking the turn."""
        now = self.clock()
        me = self.claim.model_copy(update={"beat": now})
        with _locked(self.night_dir) as state:
            waiting = [*self._others(state, now), me]
            write_gpu_turn(
                self.night_dir,
                GpuTurnState(holder=state.holder, waiting=waiting, busy_until=state.busy_until),
            )

    def release(self, busy_until: datetime | None = None) -> None:
        """Hand the turn on (nothing left to submit, or the run stopped); `busy_until`: when the
        prompts this run left queued are expected to be done."""
        if not self.held:
            return
        self.held = False
        if self._beat is not None:
            self._beat.cancel()
        self.leave(busy_until)

    def leave(self, busy_until: datetime | None = None) -> None:
        """Give up the turn and the place in line."""
        with _locked(self.night_dir) as state:
            mine = self._mine(state.holder)
            holder = None if mine else state.holder
            waiting = [w for w in state.waiting if not self._mine(w)]
            busy = busy_until if mine else state.busy_until
            write_gpu_turn(
                self.night_dir, GpuTurnState(holder=holder, waiting=waiting, busy_until=busy)
            )
