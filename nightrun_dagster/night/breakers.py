"""Circuit breakers (seed §2): the rules that stop a night, and the latch a person must clear.

A breaker trips inside the render loop (submitting stops at once) or at warm-up. The first trip
writes `<root>/ops/breaker_latch.json` (created exclusively, so exactly one tripper notifies);
while it exists, schedules skip and render loops refuse to submit. `nightrun resume` moves it
into `<root>/ops/breaker_history.jsonl`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightrun_dagster.store.models import DocumentError
from nightrun_dagster.store.ops_docs import (
    BreakerHistoryEntry,
    BreakerLatch,
    append_breaker_history,
    clear_breaker_latch,
    create_breaker_latch,
    read_breaker_latch,
    write_breaker_latch,
)
from nightrun_dagster.store.paths import Tree

OOM = "gpu_oom"
LATENCY = "latency"
DISK = "disk_free"
BACKLOG = "queue_backlog"
FAILURE_RATE = "failure_rate"
RESTART_LOOP = "restart_loop"
BREAKERS = (OOM, LATENCY, DISK, BACKLOG, FAILURE_RATE, RESTART_LOOP)

GB = 1024**3


@dataclass(frozen=True)
class BreakerConfig:
    """Thresholds; a breaker trips when its value goes *over* the threshold (disk: under)."""

    oom_max: int = 3  # OOMs tolerated in `oom_window_s`; the next one trips
    oom_window_s: float = 600.0
    latency_image_s: float = 480.0  # mean seconds per image (SDXL base: 8 min means swapping)
    latency_video_s: float = 1800.0
    latency_samples: int = 5  # the mean is over the last N renders, once N are in
    disk_free_min_gb: float = 50.0
    backlog_max: int = 2000  # variants waiting (this night + the server's queue)
    failure_rate_max: float = 0.30  # failed share of the last `failure_window` variants
    failure_window: int = 50
    failure_min_samples: int = 10  # no rate before this many results
    # ComfyUI outages (the server answered, then stopped answering) tolerated in
    # `restart_window_s`; the next one trips. Failed calls inside one outage and websocket
    # reconnects do not count; one outage longer than the render loop's patience trips too.
    restart_max: int = 3
    restart_window_s: float = 1800.0

    def latency_max_s(self, kind: str) -> float:
        return self.latency_video_s if kind == "video" else self.latency_image_s


@dataclass(frozen=True)
class Trip:
    breaker: str
    reason: str
    value: float
    threshold: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class BreakerMonitor:
    """Feeds on what the render loop sees and says when a breaker trips (once: it stays open)."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        kind: str = "image",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or BreakerConfig()
        self.kind = kind
        self.clock = clock
        self.ooms: deque[float] = deque()
        self.latencies: deque[float] = deque(maxlen=max(1, self.config.latency_samples))
        self.results: deque[bool] = deque(maxlen=max(1, self.config.failure_window))
        self.outages: deque[float] = deque()
        self.tripped: Trip | None = None

    def _trip(self, trip: Trip | None) -> Trip | None:
        if trip is not None and self.tripped is None:
            self.tripped = trip
        return trip

    def _recent(self, events: deque[float], window_s: float) -> int:
        """Count one more event now; how many fall within the last `window_s` seconds."""
        now = self.clock()
        events.append(now)
        while events and now - events[0] > window_s:
            events.popleft()
        return len(events)

    def on_oom(self) -> Trip | None:
        c = self.config
        n = self._recent(self.ooms, c.oom_window_s)
        if n <= c.oom_max:
            return None
        why = f"{n} GPU out-of-memory errors in {c.oom_window_s / 60:g} min (more than {c.oom_max})"
        return self._trip(Trip(OOM, why, n, c.oom_max))

    def on_render(self, latency_s: float) -> Trip | None:
        """A variant rendered; `latency_s` is submit → done."""
        self.latencies.append(latency_s)
        self.results.append(True)
        return self._trip(self._latency() or self._failure_rate())

    def on_variant_failed(self) -> Trip | None:
        self.results.append(False)
        return self._trip(self._failure_rate())

    def on_outage(self) -> Trip | None:
        """The ComfyUI server stopped answering (it had answered before)."""
        c = self.config
        n = self._recent(self.outages, c.restart_window_s)
        if n <= c.restart_max:
            return None
        why = (
            f"{n} outages in {c.restart_window_s / 60:g} min (more than {c.restart_max}): "
            "ComfyUI is restarting in a loop"
        )
        return self._trip(Trip(RESTART_LOOP, why, n, c.restart_max))

    def on_outage_too_long(self, patience_s: float) -> Trip | None:
        """One outage outlasted the render loop's patience: the server is down, not restarting."""
        return self._trip(
            Trip(
                RESTART_LOOP,
                f"ComfyUI unreachable for longer than the outage patience ({patience_s:g} s): "
                "it is down, not restarting",
                patience_s,
                patience_s,
            )
        )

    def check_disk(self, free_bytes: int) -> Trip | None:
        return self._trip(disk_trip(free_bytes, self.config))

    def check_backlog(self, waiting: int) -> Trip | None:
        return self._trip(backlog_trip(waiting, self.config))

    def _latency(self) -> Trip | None:
        c = self.config
        if len(self.latencies) < self.latencies.maxlen:  # type: ignore[operator]
            return None
        mean = sum(self.latencies) / len(self.latencies)
        limit = c.latency_max_s(self.kind)
        if mean > limit:
            return Trip(
                LATENCY,
                f"mean latency {mean:.1f} s per {self.kind} over the last {len(self.latencies)} "
                f"renders is above {limit:g} s (offloading or swapping?)",
                round(mean, 3),
                limit,
            )
        return None

    def _failure_rate(self) -> Trip | None:
        c = self.config
        n = len(self.results)
        if n < c.failure_min_samples:
            return None
        failed = n - sum(self.results)
        rate = failed / n
        if rate > c.failure_rate_max:
            return Trip(
                FAILURE_RATE,
                f"{failed} of the last {n} variants failed ({rate:.0%} > {c.failure_rate_max:.0%})",
                round(rate, 4),
                c.failure_rate_max,
            )
        return None


def disk_trip(free_bytes: int, config: BreakerConfig) -> Trip | None:
    free_gb = free_bytes / GB
    if free_gb < config.disk_free_min_gb:
        return Trip(
            DISK,
            f"{free_gb:.1f} GB free on the output volume, below {config.disk_free_min_gb:g} GB",
            round(free_gb, 3),
            config.disk_free_min_gb,
        )
    return None


def backlog_trip(waiting: int, config: BreakerConfig) -> Trip | None:
    if waiting > config.backlog_max:
        return Trip(
            BACKLOG,
            f"{waiting} variants waiting, more than {config.backlog_max}: resume by hand once "
            "the backlog is understood",
            waiting,
            config.backlog_max,
        )
    return None


# ---------------------------------------------------------------------------------- the latch
@dataclass(frozen=True)
class Latch:
    breaker: str
    reason: str
    value: float
    threshold: float
    night: str | None
    job: str | None
    tripped_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        where = f"night {self.night}" if self.night else "the night"
        if self.job:
            where += f", job {self.job}"
        return (
            f"circuit breaker {self.breaker} latched at {self.tripped_at} ({where}): "
            f"{self.reason}. Resume with `nightrun resume` or the resume_night job."
        )


def latch_path(root: Path) -> Path:
    return Tree(root).breaker_latch


def history_path(root: Path) -> Path:
    return Tree(root).breaker_history


def read_latch(root: Path) -> Latch | None:
    """The latched breaker, or None when the night may run."""
    try:
        doc = read_breaker_latch(Tree(root))
    except FileNotFoundError:
        return None
    except DocumentError:
        # An unreadable latch still means "stopped": never run through a breaker by accident.
        return _unreadable_latch(latch_path(root))
    return _latch_of(doc)


def _latch_of(doc: BreakerLatch) -> Latch:
    return Latch(**doc.model_dump(include={f.name for f in fields(Latch)}))


def _unreadable_latch(path: Path) -> Latch:
    return Latch("unknown", f"{path} is unreadable", 0, 0, None, None, "?")


def latch(
    root: Path,
    trip: Trip,
    *,
    night: str | None,
    job: str | None,
    extra: dict[str, Any] | None = None,
) -> tuple[Latch, bool]:
    """Latch `trip`; returns the latch in force and whether this call created it (and so
    should notify). An existing latch wins: the first breaker to trip is the one reported."""
    record = BreakerLatch.model_validate(
        {
            **trip.as_dict(),
            "night": night,
            "job": job,
            "tripped_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "extra": extra or {},
        }
    )
    created = create_breaker_latch(Tree(root), record)
    current = read_latch(root)
    assert current is not None
    return current, created


def mark_notified(root: Path, how: str) -> None:
    """Record on the latch how the team was told (for the UI and `nightrun resume`)."""
    tree = Tree(root)
    try:
        doc = read_breaker_latch(tree)
    except (FileNotFoundError, DocumentError):
        return
    doc.extra["notified"] = how
    write_breaker_latch(tree, doc)


def resume(root: Path, by: str) -> Latch | None:
    """Clear the latch (appended to the history with who resumed); None when nothing was set."""
    current = read_latch(root)
    if current is None:
        return None
    entry = BreakerHistoryEntry.model_validate(
        {
            **asdict(current),
            "resumed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "resumed_by": by,
        }
    )
    tree = Tree(root)
    append_breaker_history(tree, entry)
    clear_breaker_latch(tree)
    return current


def notification_text(current: Latch) -> str:
    return f"⛔ Night Runs stopped. {current.describe()}"
