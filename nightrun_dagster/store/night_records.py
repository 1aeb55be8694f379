"""How a night's renders stopped and how the night ended: a job's `breaker.json` and
`window_closed.json` (why its render loop stopped, what it left) and `night_closed.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from nightrun_dagster.store.models import (
    Document,
    Part,
    read_document,
    try_read_document,
    write_document,
)
from nightrun_dagster.store.paths import JobDir, NightDir, Tree, as_night_dir


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


def try_read_breaker_record(job_dir: JobDir) -> StopRecord | None:
    """The job's `breaker.json`, or None when no breaker stopped it (or it is unreadable)."""
    return try_read_document(job_dir.breaker, StopRecord)


def write_breaker_record(job_dir: JobDir, record: StopRecord) -> None:
    write_document(job_dir.breaker, record)


def try_read_window_closed(job_dir: JobDir) -> StopRecord | None:
    """The job's `window_closed.json`, or None when its loop did not stop at the window's end."""
    return try_read_document(job_dir.window_closed, StopRecord)


def write_window_closed(job_dir: JobDir, record: StopRecord) -> None:
    write_document(job_dir.window_closed, record)


class JobClosed(Part):
    """One job at the night's close."""

    job: str
    variants: int = 0
    rendered: int = 0
    failed: int = 0
    left: int = 0
    left_variants: list[str] = Field(default_factory=list)
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


def try_read_night_closed(tree: Tree, night: str) -> NightClosed | None:
    """The night's close record, or None when it did not close (or it is unreadable)."""
    return try_read_document(tree.night_closed(night), NightClosed)


def write_night_closed(tree: Tree, record: NightClosed) -> Path:
    """Write the close record of `record.night`; returns its path. Durable: the next night's
    warm-up carries over what it says was left."""
    if not record.night:
        raise ValueError("a night_closed record names its night")
    path = tree.night_closed(record.night)
    write_document(path, record, durable=True)
    return path


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


def try_read_night_summary(night_dir: NightDir | Path) -> NightSummary | None:
    """The night's summary, or None when the cool-down has not written it (or unreadable)."""
    return try_read_document(as_night_dir(night_dir).night_summary, NightSummary)


def write_night_summary(night_dir: NightDir | Path, summary: NightSummary) -> Path:
    path = as_night_dir(night_dir).night_summary
    write_document(path, summary)
    return path


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


def read_warmup(night_dir: NightDir | Path) -> WarmupReport:
    """The warm-up's report; FileNotFoundError when it did not run, DocumentError when damaged."""
    return read_document(as_night_dir(night_dir).warmup, WarmupReport)


def write_warmup(night_dir: NightDir | Path, report: WarmupReport) -> Path:
    path = as_night_dir(night_dir).warmup
    write_document(path, report)
    return path


def try_read_warmup(night_dir: NightDir | Path) -> WarmupReport | None:
    return try_read_document(as_night_dir(night_dir).warmup, WarmupReport)
