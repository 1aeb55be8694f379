"""The render loop's guard for one night × job: the circuit breakers, the latch and the clock."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from nightrun_dagster.comfy.render_loop import LoopEvent
from nightrun_dagster.night import time_scale
from nightrun_dagster.night.breakers import (
    BreakerConfig,
    BreakerMonitor,
    Latch,
    Trip,
    latch,
    latch_path,
    read_latch,
)
from nightrun_dagster.night.window import TZ
from nightrun_dagster.store.paths import volume_of


class StopKind(StrEnum):
    """Why a render loop stopped submitting (`kind` in breaker.json and window_closed.json)."""

    WINDOW = "window"  # the run's time is up (slice end or 08:00): not a fault
    SHARE = "share"  # the job's share of the slice is spent: the jobs after it get theirs
    BREAKER = "breaker"  # a breaker tripped in this loop
    LATCHED = "latched"  # a breaker tripped elsewhere (another job, the warm-up) and is latched


@dataclass(frozen=True)
class Halt:
    """Why the loop stopped submitting."""

    kind: StopKind
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)
    # Stopped ahead of its time (the window or share ends before another render could start):
    # what is queued starts in time and runs; nothing new is submitted.
    drain: bool = False


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(volume_of(path)).free


class NightGuard:
    """Answers the render loop's "may I submit?" and turns what it sees into breaker trips.

    A trip is latched on disk at once (`night.breakers.latch`), so every other loop of the night
    stops at its next submit and the schedules skip until someone resumes."""

    def __init__(
        self,
        root: Path,
        *,
        night: str,
        job: str,
        config: BreakerConfig | None = None,
        kind: str = "image",
        stop_at: datetime | None = None,
        disk_path: Path | None = None,
        disk_every_s: float = 30.0,
        now: Callable[[], datetime] = time_scale.now,
        clock: Callable[[], float] = time.monotonic,
        free_bytes: Callable[[Path], int] = _free_bytes,
    ) -> None:
        self.root = root
        self.night = night
        self.job = job
        self.config = config or BreakerConfig()
        self.monitor = BreakerMonitor(self.config, kind=kind, clock=clock)
        self.stop_at = stop_at
        self.disk_path = disk_path or root
        self.disk_every_s = disk_every_s
        self.now = now
        self.clock = clock
        self.free_bytes = free_bytes
        # The job's time share ends here (set when the run takes the GPU turn), before stop_at.
        self.share_until: datetime | None = None
        # Seconds (night clock) one of the job's renders takes, from its share: a render that
        # would start only after the share or the window ends is not submitted.
        self.render_s: float | None = None
        self._last_disk: float | None = None
        self.latch: Latch | None = None
        self.created_latch = False  # this guard tripped first: it tells the team

    def starts_at(self, queued: int = 0) -> datetime:
        """When a prompt submitted now would start, behind `queued` of this run's prompts."""
        ahead = queued * self.render_s if self.render_s else 0.0
        return self.now() + timedelta(seconds=ahead)

    def before_submit(self, queued: int = 0) -> Halt | None:
        """Why not to submit another prompt (behind `queued` of this run's), or None."""
        now, start = self.now(), self.starts_at(queued)
        if self.stop_at is not None and start >= self.stop_at:
            local = self.stop_at.astimezone(TZ)
            said = "closed" if now >= self.stop_at else "closes before another render could start,"
            return Halt(
                StopKind.WINDOW,
                f"window {said} at {local:%H:%M} (Buenos Aires): the rest waits for the next night",
                {"stop_at": self.stop_at.isoformat()},
                drain=now < self.stop_at,
            )
        if self.share_until is not None and start >= self.share_until:
            local = self.share_until.astimezone(TZ)
            said = "ended" if now >= self.share_until else "ends before another render could start,"
            return Halt(
                StopKind.SHARE,
                f"its share of the slice {said} at {local:%H:%M} (Buenos Aires): the jobs after "
                "it render in theirs; what is left waits for time the night has spare",
                {"share_until": self.share_until.isoformat()},
                drain=now < self.share_until,
            )
        if latch_path(self.root).exists():
            current = read_latch(self.root)
            if current is not None:
                self.latch = current
                return Halt(StopKind.LATCHED, current.describe(), {"breaker": current.breaker})
        t = self.clock()
        if self._last_disk is None or t - self._last_disk >= self.disk_every_s:
            self._last_disk = t
            trip = self.monitor.check_disk(self.free_bytes(self.disk_path))
            if trip is not None:
                return self._trip(trip)
        return None

    def observe(self, event: LoopEvent, value: float = 0.0) -> Halt | None:
        m = self.monitor
        trip: Trip | None = None
        match event:
            case LoopEvent.OOM:
                trip = m.on_oom()
            case LoopEvent.RENDERED:
                trip = m.on_render(value)
            case LoopEvent.VARIANT_FAILED:
                trip = m.on_variant_failed()
            case LoopEvent.OUTAGE_STARTED:
                trip = m.on_outage()
            case LoopEvent.OUTAGE_TOO_LONG:
                trip = m.on_outage_too_long(value)
            case LoopEvent.OUTAGE_ENDED:
                pass  # the server answered again: nothing to count (the start was counted)
            case LoopEvent.BACKLOG:
                trip = m.check_backlog(int(value))
        return self._trip(trip) if trip is not None else None

    def _trip(self, trip: Trip) -> Halt:
        current, created = latch(self.root, trip, night=self.night, job=self.job)
        self.latch = current
        self.created_latch = self.created_latch or created
        return Halt(
            StopKind.BREAKER,
            trip.reason,
            {"breaker": trip.breaker, "value": trip.value, "threshold": trip.threshold},
        )
