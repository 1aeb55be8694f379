"""Circuit breakers (seed §2): the rules that stop a night, and the latch a person must clear.

A breaker trips inside the render loop (submitting stops at once) or at warm-up. The first trip
writes `<root>/ops/breaker_latch.json` (created exclusively, so exactly one tripper notifies);
while it exists, schedules skip and render loops refuse to submit. `nightrun resume` moves it
into `<root>/ops/breaker_history.jsonl`.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightrun_dagster.store.atomic import atomic_write_json, dump_json

OOM = "gpu_oom"
LATENCY = "latency"
DISK = "disk_free"
BACKLOG = "queue_backlog"
FAILURE_RATE = "failure_rate"
RESTART_LOOP = "restart_loop"
BREAKERS = (OOM, LATENCY, DISK, BACKLOG, FAILURE_RATE, RESTART_LOOP)

LATCH_FILE = "breaker_latch.json"
HISTORY_FILE = "breaker_history.jsonl"
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

    def on_oom(self) -> Trip | None:
        c, now = self.config, self.clock()
        self.ooms.append(now)
        while self.ooms and now - self.ooms[0] > c.oom_window_s:
            self.ooms.popleft()
        if len(self.ooms) > c.oom_max:
            return self._trip(
                Trip(
                    OOM,
                    f"{len(self.ooms)} GPU out-of-memory errors in {c.oom_window_s / 60:g} min "
                    f"(more than {c.oom_max})",
                    len(self.ooms),
                    c.oom_max,
                )
            )
        return None

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
        c, now = self.config, self.clock()
        self.outages.append(now)
        while self.outages and now - self.outages[0] > c.restart_window_s:
            self.outages.popleft()
        if len(self.outages) > c.restart_max:
            return self._trip(
                Trip(
                    RESTART_LOOP,
                    f"{len(self.outages)} outages in {c.restart_window_s / 60:g} min (more than "
                    f"{c.restart_max}): ComfyUI is restarting in a loop",
                    len(self.outages),
                    c.restart_max,
                )
            )
        return None

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
    return root / "ops" / LATCH_FILE


def history_path(root: Path) -> Path:
    return root / "ops" / HISTORY_FILE


def read_latch(root: Path) -> Latch | None:
    """The latched breaker, or None when the night may run."""
    path = latch_path(root)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        # An unreadable latch still means "stopped": never run through a breaker by accident.
        return _unreadable_latch(path)
    if not isinstance(data, dict):
        return _unreadable_latch(path)
    try:
        return Latch(
            breaker=str(data.get("breaker", "unknown")),
            reason=str(data.get("reason", "")),
            value=float(data.get("value", 0)),
            threshold=float(data.get("threshold", 0)),
            night=data.get("night"),
            job=data.get("job"),
            tripped_at=str(data.get("tripped_at", "?")),
            extra=dict(data.get("extra") or {}),
        )
    except (TypeError, ValueError):  # JSON of the wrong shape: as unreadable, still stopped
        return _unreadable_latch(path)


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
    path = latch_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        **trip.as_dict(),
        "night": night,
        "job": job,
        "tripped_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "extra": extra or {},
    }
    data = dump_json(record)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    try:
        # link() fails if the latch exists: exactly one tripper wins, and the file appears whole.
        os.link(tmp, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        tmp.unlink(missing_ok=True)
    current = read_latch(root)
    assert current is not None
    return current, created


def mark_notified(root: Path, how: str) -> None:
    """Record on the latch how the team was told (for the UI and `nightrun resume`)."""
    path = latch_path(root)
    try:
        data = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return
    data.setdefault("extra", {})["notified"] = how
    atomic_write_json(path, data)


def resume(root: Path, by: str) -> Latch | None:
    """Clear the latch (appended to the history with who resumed); None when nothing was set."""
    current = read_latch(root)
    if current is None:
        return None
    entry = {
        **asdict(current),
        "resumed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "resumed_by": by,
    }
    hist = history_path(root)
    hist.parent.mkdir(parents=True, exist_ok=True)
    with hist.open("ab") as fh:
        fh.write(json.dumps(entry, sort_keys=True).encode() + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    latch_path(root).unlink(missing_ok=True)
    return current


def notification_text(current: Latch) -> str:
    return f"⛔ Night Runs stopped. {current.describe()}"
