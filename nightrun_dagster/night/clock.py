"""What each of the night's schedules asks for: run requests in priority order, or the reason it
skips. Pure decisions plus the few file reads they need; the Dagster schedules only wrap them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.night.breakers import Latch
from nightrun_dagster.night.window import (
    COOL_DOWN,
    VIDEO_SLICE_END,
    VIDEO_SLICE_START,
    WARMUP,
    WINDOW_END,
    WINDOW_START,
    at,
    mode_for_night,
)
from nightrun_dagster.store.models import DocumentError
from nightrun_dagster.store.night_plan import NightPlan, PlannedJob, read_night_plan
from nightrun_dagster.store.night_records import read_blocked
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.selection_docs import read_shortlist_with_digest
from nightrun_dagster.store.variant_state import is_complete
from nightrun_dagster.store.variants_index import try_read_variants_index


class Phase(StrEnum):
    warm_up = "warm-up"
    window = "window"
    maintenance = "maintenance"  # also at 23:00: a Dagster schedule starts only its own job
    video_slice = "video-slice"
    images_resume = "images-resume"
    cool_down = "cool-down"
    hard_stop = "hard-stop"


PHASE_CLOCK: dict[Phase, time] = {
    Phase.warm_up: WARMUP,
    Phase.window: WINDOW_START,
    Phase.maintenance: WINDOW_START,
    Phase.video_slice: VIDEO_SLICE_START,
    Phase.images_resume: VIDEO_SLICE_END,
    Phase.cool_down: COOL_DOWN,
    Phase.hard_stop: WINDOW_END,
}


# Render phases are requested this long before their time: their runs start, connect and wait
# for it (`start_at`), so when the phase opens the GPU does not wait for a run to start.
RUN_LEAD = timedelta(minutes=10)
LEAD_PHASES = frozenset({Phase.window, Phase.video_slice, Phase.images_resume})


def fires_at(phase: Phase) -> time:
    """When the phase's schedule ticks: its time, less the lead of a render phase."""
    clock = PHASE_CLOCK[phase]
    if phase not in LEAD_PHASES:
        return clock
    return (datetime.combine(date(2000, 1, 1), clock) - RUN_LEAD).time()


# What a latched circuit breaker stops: the phases that send work to ComfyUI (the warm-up's
# preload prompt, the render runs). Maintenance, the cool-down and the hard stop still run.
SENDS_TO_COMFYUI = frozenset({Phase.warm_up, Phase.window, Phase.video_slice, Phase.images_resume})


class UnreadablePlan(ValueError):
    """`runs/<night>/night_plan.json` exists but is not a plan document."""


@dataclass(frozen=True)
class Request:
    """One run a schedule asks for, of the job that phase's schedule starts. `job_key` None: the
    night partition; else night × job."""

    night: str
    job_key: str | None
    run_key: str
    phase: Phase
    mode: str
    stop_at: datetime | None = None  # the render loop stops submitting at this moment
    start_at: datetime | None = None  # … and submits nothing before this one (the phase's time)
    priority: int | None = None  # higher starts first in the queued run coordinator


@dataclass(frozen=True)
class Decision:
    """Either requests (in the order to start them) or why the tick skips; notes are for the log."""

    requests: tuple[Request, ...] = ()
    skip: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Progress:
    """Where an image job stands when the video slice ends."""

    pending: int  # variants not yet complete (failed ones included: a re-run retries them)
    blocked: str | None = None  # the render loop found a missing model or node: not retried


def cron(phase: Phase) -> str:
    clock = fires_at(phase)
    return f"{clock.minute} {clock.hour} * * *"


def read_plan(tree: Tree, night: str) -> NightPlan | None:
    """The night's plan, or None when the warm-up has not written it."""
    try:
        return read_night_plan(tree.night_dir(night))
    except FileNotFoundError:
        return None
    except DocumentError as exc:
        raise UnreadablePlan(f"{exc}: run plan_night again") from None
    except OSError as exc:
        raise UnreadablePlan(
            f"{tree.night_plan(night)} is unreadable ({exc}): run plan_night again"
        ) from None


def pending_variants(job_dir: JobDir, budget: int) -> int:
    """Variants of the job not complete yet; its whole budget when no variants were written."""
    index = try_read_variants_index(job_dir)
    if index is None:
        return budget
    return sum(1 for vid in index.variants if not is_complete(job_dir, str(vid)))


def image_progress(tree: Tree, night: str, plan: NightPlan) -> dict[str, Progress]:
    """Progress of every image job the plan gave a budget."""
    progress = {}
    for entry in active(plan, "image"):
        job_dir = tree.job(night, entry.key)
        blocked = None
        if job_dir.blocked.is_file():
            try:
                blocked = read_blocked(job_dir).reason or "blocked"
            except (OSError, ValueError):
                blocked = f"blocked ({job_dir.blocked} unreadable)"
        progress[entry.key] = Progress(pending_variants(job_dir, entry.budget), blocked)
    return progress


def active(plan: NightPlan, kind: str) -> list[PlannedJob]:
    """Jobs of `kind` with a budget and nothing blocking them, highest priority first."""
    jobs = [j for j in plan.jobs if j.kind == kind and j.budget > 0 and not j.blocked]
    return sorted(jobs, key=lambda j: (-j.priority, j.key))


def idle_notes(plan: NightPlan, kind: str) -> list[str]:
    """Why each job of `kind` gets no run tonight."""
    notes = []
    for j in plan.jobs:
        if j.kind != kind:
            continue
        if j.blocked:
            notes.append(f"{j.key}: blocked ({_what_blocks(j.blocked)})")
        elif j.budget <= 0:
            notes.append(f"{j.key}: no render budget tonight (demand {j.demand})")
    return notes


def _what_blocks(blocked: Any) -> str:
    if not isinstance(blocked, Mapping):
        return str(blocked)
    parts = []
    for key, value in blocked.items():
        if value in (None, "", [], ()):
            continue  # a job blocked for its graph misses no model or node: say only why
        shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        parts.append(f"{key.replace('_', ' ')}: {shown}")
    return "; ".join(parts) or "blocked"


def missing_plan(night: str) -> str:
    return f"night_plan for {night} not written: did the 22:45 warm-up run?"


def decide(
    phase: Phase,
    night: str,
    *,
    plan: NightPlan | None,
    latch: Latch | None,
    progress: Mapping[str, Progress] | None = None,
    mode_override: RunMode | None = None,
) -> Decision:
    """What the `phase` schedule does for `night`. `mode_override` matters only where no plan
    says the mode (the warm-up, which writes it, and a hard stop or cool-down without a plan).
    A latched breaker skips only the phases in `SENDS_TO_COMFYUI`."""
    if phase is Phase.hard_stop:
        # It only records that the window closed, so a latched breaker must not stop it.
        notes = (f"latched: {latch.describe()}",) if latch else ()
        mode = str(plan.mode) if plan else (mode_override or mode_for_night(night)).value
        return Decision((_night_request(night, phase, mode),), notes=notes)
    if phase is Phase.cool_down:
        # A latch stops the GPU, not the morning: the cool-down summarizes what was rendered.
        notes = (f"latched: {latch.describe()}",) if latch else ()
        if plan is not None:
            mode = str(plan.mode)
        elif latch is not None and latch.night == night:
            # The warm-up tripped (disk, backlog) before writing the plan: say so all the same.
            mode = (mode_override or mode_for_night(night)).value
        else:
            return Decision(skip=f"{missing_plan(night)} Nothing ran tonight to summarize.")
        return Decision((_night_request(night, phase, mode),), notes=notes)
    if latch is not None and phase in SENDS_TO_COMFYUI:
        return Decision(skip=latch.describe())
    if phase is Phase.warm_up:
        mode = (mode_override or mode_for_night(night)).value
        return Decision((_night_request(night, phase, mode, "warmup"),))
    if plan is None:
        return Decision(skip=missing_plan(night))
    mode = str(plan.mode)
    if phase is Phase.maintenance:
        if mode != RunMode.maintenance:
            return Decision(skip=f"{mode} night: maintenance runs on Sunday nights")
        return Decision((_night_request(night, phase, mode),))
    if mode == RunMode.maintenance:
        return Decision(skip=f"maintenance night ({night}): no renders, the maintenance job runs")
    if phase is Phase.window:
        return _window(night, plan, mode)
    if phase is Phase.video_slice:
        return _video_slice(night, plan, mode)
    return _images_resume(night, plan, mode, progress or {})


def _night_request(night: str, phase: Phase, mode: str, prefix: str | None = None) -> Request:
    return Request(night, None, f"{prefix or phase.value}:{night}", phase, mode)


def _job_requests(
    night: str, jobs: list[PlannedJob], phase: Phase, mode: str, stop_at: datetime, prefix: str
) -> tuple[Request, ...]:
    return tuple(
        Request(
            night,
            j.key,
            f"{prefix}:{night}:{j.key}",
            phase,
            mode,
            stop_at=stop_at,
            start_at=at(night, PHASE_CLOCK[phase]),
            priority=j.priority,
        )
        for j in jobs
    )


def _window(night: str, plan: NightPlan, mode: str) -> Decision:
    images, videos = active(plan, "image"), active(plan, "video")
    # Images give the GPU back at 01:00 when a video job waits for its slice.
    stop_at = at(night, VIDEO_SLICE_START if videos else WINDOW_END)
    notes = tuple(idle_notes(plan, "image"))
    if not images:
        if videos:
            why = f"no image jobs with a render budget tonight; {len(videos)} video job(s) at 01:00"
        elif plan.jobs:
            why = "no jobs with a render budget tonight: " + "; ".join(
                idle_notes(plan, "image") + idle_notes(plan, "video")
            )
        else:
            why = "no active jobs in the night plan (is the queue empty?)"
        return Decision(skip=why, notes=notes)
    requests = _job_requests(night, images, Phase.window, mode, stop_at, "window")
    return Decision(requests, notes=notes)


def _video_slice(night: str, plan: NightPlan, mode: str) -> Decision:
    videos = active(plan, "video")
    notes = tuple(idle_notes(plan, "video"))
    if not videos:
        why = "no video jobs tonight"
        if notes:
            why += ": " + "; ".join(notes)
        return Decision(skip=why, notes=notes)
    stop_at = at(night, VIDEO_SLICE_END)
    return Decision(
        _job_requests(night, videos, Phase.video_slice, mode, stop_at, "video"), notes=notes
    )


def _images_resume(
    night: str, plan: NightPlan, mode: str, progress: Mapping[str, Progress]
) -> Decision:
    if not active(plan, "video"):
        return Decision(skip="no video slice tonight: image jobs kept rendering")
    waiting, notes = [], []
    for j in active(plan, "image"):
        state = progress.get(j.key, Progress(j.budget))
        if state.blocked:
            notes.append(f"{j.key}: blocked ({state.blocked}), not retried")
        elif state.pending > 0:
            waiting.append(j)
            notes.append(f"{j.key}: {state.pending} variants pending")
    if not waiting:
        why = "nothing pending: every image job finished before the video slice"
        return Decision(skip=why, notes=tuple(notes))
    stop_at = at(night, WINDOW_END)
    requests = _job_requests(night, waiting, Phase.images_resume, mode, stop_at, "resume")
    return Decision(requests, notes=tuple(notes))


def shortlists_to_review(tree: Tree, night: str, plan: NightPlan) -> list[tuple[str, str]]:
    """(job key, shortlist digest) of every planned job whose shortlist has picks; the digest
    changes when the shortlist does, so a later one is sent again."""
    out = []
    for j in plan.jobs:
        try:
            shortlist, digest = read_shortlist_with_digest(tree.job(night, j.key))
        except (OSError, DocumentError):
            continue
        if shortlist.picks:
            out.append((j.key, digest[:12]))
    return out
