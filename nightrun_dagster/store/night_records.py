"""How a night's renders stopped and how the night ended: a job's `breaker.json`,
`window_closed.json` and `blocked.json` (why its render loop stopped, what it left), the
night's `warmup.json`, `night_summary.json`, `night_closed.json` and `cleanup.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from nightrun_dagster.store.models import Document, DocumentAt, Part
from nightrun_dagster.store.paths import JobDir, NightDir, Tree, as_job_dir, as_night_dir


class StopRecord(Document):
    """Why a job's render loop stopped submitting: `kind` is an night.guard.StopKind value."""

    night: str | None = None
    job: str | None = None
    kind: str | None = None
    reason: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)
    pending: int = 0
    pending_variants: list[str] = Field(default_factory=list)
    taken_back: int = 0  # queued on the server when the loop stopped, withdrawn unrendered
    at: str | None = None


BREAKER_RECORD = DocumentAt[StopRecord, JobDir](StopRecord, lambda job_dir: job_dir.breaker)
WINDOW_CLOSED = DocumentAt[StopRecord, JobDir](StopRecord, lambda job_dir: job_dir.window_closed)
# None when no breaker stopped the job, or its loop did not stop at the window's end.
try_read_breaker_record = BREAKER_RECORD.try_read
write_breaker_record = BREAKER_RECORD.write
try_read_window_closed = WINDOW_CLOSED.try_read
write_window_closed = WINDOW_CLOSED.write


class BlockedRecord(Document):
    """`job_<key>/blocked.json`: a model or node went missing once rendering had begun."""

    reason: str = "blocked"
    missing_models: list[str] = Field(default_factory=list)
    missing_nodes: list[str] = Field(default_factory=list)
    blocked_at: str | None = None


BLOCKED = DocumentAt[BlockedRecord, JobDir | Path](
    BlockedRecord, lambda where: as_job_dir(where).blocked
)
read_blocked = BLOCKED.read  # FileNotFoundError when the job is not blocked
try_read_blocked = BLOCKED.try_read
write_blocked = BLOCKED.write


class JobClosed(Part):
    """One job at the night's close."""

    job: str
    variants: int = 0
    rendered: int = 0
    failed: int = 0
    left: int = 0
    left_variants: list[str] = Field(default_factory=list)
    reserve_left: int = 0  # reserve variants (beyond the plan) not rendered: not carried over
    stopped_by: str | None = None
    stop_reason: str | None = None


class NightClosed(Document):
    """`runs/<night>/night_closed.json`: every job's state at the close, what is left for the
    next night and the latched circuit breaker, if any."""

    night: str | None = None
    closed_at: str | None = None
    jobs: list[JobClosed] = Field(default_factory=list)
    left_for_next_night: dict[str, int] = Field(default_factory=dict)
    breaker: dict[str, Any] | None = None


# Durable: the next night's warm-up carries over what it says was left.
NIGHT_CLOSED = DocumentAt[NightClosed, NightDir | Path](
    NightClosed, lambda where: as_night_dir(where).night_closed, durable=True
)


def try_read_night_closed(tree: Tree, night: str) -> NightClosed | None:
    """The night's close record, or None when it did not close (or it is unreadable)."""
    return NIGHT_CLOSED.try_read(tree.night_dir(night))


def write_night_closed(tree: Tree, record: NightClosed) -> Path:
    """Write the close record of `record.night` (durably); returns its path."""
    if not record.night:
        raise ValueError("a night_closed record names its night")
    return NIGHT_CLOSED.write(tree.night_dir(record.night), record)


class JobDigest(Part):
    """One job in the night's summary."""

    job: str
    variants: int = 0
    rendered: int = 0
    failed: int = 0
    blocked: bool = False
    shortlisted: int = 0
    best_total: float | None = None
    best: str | None = None


class NightSummary(Document):
    """`runs/<night>/night_summary.json`: per job counts and best pick; `cut_short`: the
    circuit breaker that stopped the night (night.closing.cut_short), when one did."""

    night: str | None = None
    jobs: list[JobDigest] = Field(default_factory=list)
    cut_short: dict[str, Any] | None = None


NIGHT_SUMMARY = DocumentAt[NightSummary, NightDir | Path](
    NightSummary, lambda where: as_night_dir(where).night_summary
)
try_read_night_summary = NIGHT_SUMMARY.try_read  # None until the cool-down wrote it
write_night_summary = NIGHT_SUMMARY.write


class Backlog(Part):
    tonight: int = 0  # renders planned for tonight
    carried_over: dict[str, int] = Field(default_factory=dict)  # left by the previous night
    server_queue: int = 0  # prompts already waiting on the busiest server


class WarmupReport(Document):
    """`runs/<night>/warmup.json`: the servers, disk, backlog, the jobs that cannot run tonight
    (job key -> what is missing) and the breaker the warm-up tripped, if any."""

    night: str | None = None
    mode: str | None = None
    servers: list[dict[str, Any]] = Field(default_factory=list)
    disk_free_gb: float | None = None
    backlog: Backlog = Field(default_factory=Backlog)
    blocked: dict[str, dict[str, Any]] = Field(default_factory=dict)
    breaker: dict[str, Any] | None = None


WARMUP = DocumentAt[WarmupReport, NightDir | Path](
    WarmupReport, lambda where: as_night_dir(where).warmup
)
read_warmup = WARMUP.read  # FileNotFoundError when the warm-up did not run
try_read_warmup = WARMUP.try_read
write_warmup = WARMUP.write


class CleanupRecord(Document):
    """`runs/<night>/cleanup.json`: the temp files the cool-down removed (night-relative)."""

    night: str | None = None
    removed: list[str] = Field(default_factory=list)
    at: str | None = None


CLEANUP = DocumentAt[CleanupRecord, NightDir | Path](
    CleanupRecord, lambda where: as_night_dir(where).cleanup
)
try_read_cleanup = CLEANUP.try_read
write_cleanup = CLEANUP.write
