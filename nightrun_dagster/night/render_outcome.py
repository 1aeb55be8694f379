"""What a job's render run leaves behind once its loop returns: why it stopped and what it left
(`window_closed.json` or `breaker.json`), whether the team must hear of a new latch, and the
line that marks the job cut short."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nightrun_dagster.comfy.render_loop import RenderReport, Stop
from nightrun_dagster.night.breakers import Latch
from nightrun_dagster.night.guard import NightGuard, StopKind
from nightrun_dagster.store.night_records import (
    StopRecord,
    write_breaker_record,
    write_window_closed,
)
from nightrun_dagster.store.paths import JobDir

# Stops that are the night's clock, not a fault: recorded in window_closed.json.
CLOCK_STOPS = frozenset({StopKind.WINDOW, StopKind.SHARE})


@dataclass
class RenderOutcome:
    """The loop's report and what followed from it. `stop` is None when the loop ran out of
    work; `record` is the stop's file; `notify`: this run latched a breaker (tell the team)."""

    report: RenderReport
    stop: Stop | None = None
    pending: list[str] = field(default_factory=list)
    record: Path | None = None
    latch: Latch | None = None
    notify: bool = False

    @property
    def faulted(self) -> bool:
        """Stopped by a breaker (here or latched elsewhere), not by the clock (the window's end
        or the job's time share)."""
        return self.stop is not None and self.stop.kind not in CLOCK_STOPS

    def cut_short(self) -> str | None:
        """The job's render stopped by a breaker: which, when, and what is still scored."""
        if not self.faulted:
            return None
        latch = self.latch
        where = latch.tripped_at if latch else str(self.record or "?")
        return (
            f"circuit breaker {latch.breaker if latch else '?'} tripped at {where}: "
            f"{len(self.pending)} variant(s) left; "
            f"{self.report.rendered + self.report.skipped} rendered are scored as usual"
        )


def clear_stop_records(job_dir: JobDir) -> None:
    """A new attempt writes its own stop record: remove the last attempt's."""
    for stale in (job_dir.window_closed, job_dir.breaker):
        stale.unlink(missing_ok=True)


def close_render(
    job_dir: JobDir,
    night: str,
    job_key: str,
    report: RenderReport,
    pending: list[str],
    guard: NightGuard,
) -> RenderOutcome:
    """Record why the loop stopped and what it left (`pending`: variants not rendered)."""
    outcome = RenderOutcome(report, latch=guard.latch)
    stop = report.stopped
    if stop is None:
        return outcome
    record = StopRecord(
        night=night,
        job=job_key,
        kind=str(stop.kind),
        reason=stop.reason,
        detail=dict(getattr(stop, "detail", {})),
        pending=len(pending),
        pending_variants=pending,
        taken_back=report.taken_back,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if stop.kind in CLOCK_STOPS:
        write_window_closed(job_dir, record)
        outcome.record = job_dir.window_closed
    else:
        write_breaker_record(job_dir, record)
        outcome.record = job_dir.breaker
    outcome.stop, outcome.pending = stop, pending
    outcome.notify = stop.kind == StopKind.BREAKER and guard.created_latch
    return outcome
