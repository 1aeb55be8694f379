"""Sharing the night's GPU time: each slice in GPU seconds, shared among its jobs by priority + 1,
turned into renders by what a render costs, with the time a job cannot use flowing on."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

# Kept free in every slice: the warm-up's preload and connection at the start and the prompts
# still running when the slice ends (the loop stops submitting, they finish) must not push the
# planned work past the slice's end.
MARGIN_FRACTION = 0.01


class SliceName(StrEnum):
    """The night's GPU slices: video jobs render 01:00–03:00, images the rest of the window."""

    IMAGES = "images"
    VIDEO = "video"


@dataclass(frozen=True)
class Slice:
    """One slice of the window: the stretches of the night it covers (images around the video
    slice) and how many GPUs render in it."""

    name: SliceName
    spans: tuple[tuple[datetime, datetime], ...]
    endpoints: int = 1

    @property
    def seconds(self) -> float:
        return sum((end - start).total_seconds() for start, end in self.spans)

    def gpu_seconds(self, tail_s: float = 0.0) -> float:
        """GPU seconds the plan may fill: every GPU for the whole slice, less the margin and the
        `tail_s` of the last prompt that finishes after the loop stops submitting."""
        usable = self.seconds * (1 - MARGIN_FRACTION) - tail_s
        return max(usable, 0.0) * self.endpoints

    def moment(self, gpu_seconds: float) -> datetime:
        """When `gpu_seconds` of work started at the slice's start is done (every GPU busy)."""
        wall = gpu_seconds / self.endpoints
        for start, end in self.spans:
            span = (end - start).total_seconds()
            if wall <= span:
                return start + timedelta(seconds=wall)
            wall -= span
        return self.spans[-1][1]


@dataclass(frozen=True)
class TimeJob:
    """What the shares need of a job: its weight, its slice, what one render costs (GPU seconds,
    averaged over the endpoints at their speeds), what it asks for, and what more it may take
    when the night has time left over (exploration extras, up to its own cap)."""

    key: str
    priority: int
    slice: SliceName
    seconds_per_render: float
    demand: int
    extra_room: int = 0


@dataclass(frozen=True)
class JobShare:
    key: str
    renders: int  # of its demand
    extra: int  # exploration extras beyond its demand
    seconds: float  # GPU seconds planned for renders + extras
    start: datetime | None
    finish: datetime | None


@dataclass
class SliceShares:
    slice: Slice
    gpu_seconds: float
    planned_seconds: float = 0.0
    free_at: datetime | None = None  # the slice's planned work ends before the slice does
    jobs: dict[str, JobShare] = field(default_factory=dict)


def weight(priority: int) -> int:
    """A job's share of contested time is in proportion to priority + 1 (priority 0 still gets
    some)."""
    return max(priority, 0) + 1


def fill(
    seconds: float,
    costs: Mapping[str, float],
    wants: Mapping[str, int],
    priorities: Mapping[str, int],
) -> dict[str, int]:
    """Renders per job out of `seconds`: shares in proportion to priority + 1, never more than a
    job wants; what a job cannot use flows to the others, and the last seconds go one render at
    a time, highest priority first, while a render still fits."""
    got = {k: 0 for k in wants}
    left = seconds
    open_keys = sorted(k for k, w in wants.items() if w > 0 and costs[k] > 0)
    while open_keys and left > 0:
        total = sum(weight(priorities[k]) for k in open_keys)
        grant = {}
        for k in open_keys:
            share = left * weight(priorities[k]) / total
            grant[k] = min(int(share // costs[k]), wants[k] - got[k])
        if not any(grant.values()):
            break
        for k, g in grant.items():
            got[k] += g
            left -= g * costs[k]
        open_keys = [k for k in open_keys if got[k] < wants[k]]
    # Whole renders left over after the proportional rounds: the remainder, by priority.
    by_priority = sorted(open_keys, key=lambda k: (-priorities[k], k))
    placed = True
    while placed:
        placed = False
        for k in by_priority:
            if got[k] < wants[k] and costs[k] <= left:
                got[k] += 1
                left -= costs[k]
                placed = True
    return got


def share_slice(
    slice_: Slice,
    jobs: Sequence[TimeJob],
    *,
    extras: bool,
    ceiling: int | None = None,
    extra_ceiling: int | None = None,
) -> SliceShares:
    """The slice's GPU seconds shared among `jobs` (all of this slice): demands first, then, with
    `extras`, the time still free to jobs with `extra_room`. `ceiling` caps the renders in all
    (the night's `max_renders`, what is left of it); `extra_ceiling` the extras alone (what the
    night's ceiling leaves once every slice's demands are planned)."""
    tail = max((j.seconds_per_render for j in jobs), default=0.0)
    available = slice_.gpu_seconds(tail_s=tail)
    costs = {j.key: j.seconds_per_render for j in jobs}
    priorities = {j.key: j.priority for j in jobs}
    renders = fill(available, costs, {j.key: j.demand for j in jobs}, priorities)
    if ceiling is not None and sum(renders.values()) > ceiling:
        renders = fill_count(renders, priorities, ceiling)
    used = sum(renders[k] * costs[k] for k in renders)
    extra = {j.key: 0 for j in jobs}
    room = None if ceiling is None else ceiling - sum(renders.values())
    if extra_ceiling is not None:
        room = extra_ceiling if room is None else min(room, extra_ceiling)
    if extras and (room is None or room > 0):
        extra = fill(available - used, costs, {j.key: j.extra_room for j in jobs}, priorities)
        if room is not None and sum(extra.values()) > room:
            extra = fill_count(extra, priorities, room)
    # The GPU is free early only when every job got all it may take, or the ceiling stopped
    # them: otherwise what is left is less than one more render.
    satisfied = all(renders[j.key] >= j.demand and extra[j.key] >= j.extra_room for j in jobs)
    capped = ceiling is not None and sum(renders.values()) + sum(extra.values()) >= ceiling
    shares = timeline(slice_, jobs, renders, extra, available)
    if not (satisfied or capped):
        shares.free_at = None
    return shares


def timeline(
    slice_: Slice,
    jobs: Sequence[TimeJob],
    renders: Mapping[str, int],
    extra: Mapping[str, int] | None = None,
    available: float | None = None,
) -> SliceShares:
    """When each job's planned renders start and finish: jobs run one after the other, highest
    priority first (the order the schedules start them), every GPU busy."""
    extra = extra or {}
    if available is None:
        available = slice_.gpu_seconds()
    result = SliceShares(slice_, available)
    clock = 0.0
    for j in sorted(jobs, key=lambda j: (-j.priority, j.key)):
        count, more = renders.get(j.key, 0), extra.get(j.key, 0)
        seconds = (count + more) * j.seconds_per_render if count + more else 0.0
        start = slice_.moment(clock) if seconds else None
        clock += seconds
        finish = slice_.moment(clock) if seconds else None
        result.jobs[j.key] = JobShare(j.key, count, more, seconds, start, finish)
    result.planned_seconds = clock
    if jobs and clock < available:
        result.free_at = slice_.moment(clock)
    return result


def fill_count(
    wants: Mapping[str, int], priorities: Mapping[str, int], count: int
) -> dict[str, int]:
    """At most `count` renders in all, shared by priority + 1 within what each job wants."""
    return fill(float(count), {k: 1.0 for k in wants}, wants, priorities)


def effective_cost(per_endpoint: Sequence[float]) -> float:
    """GPU seconds one render takes on average when every endpoint renders the job at its own
    speed (each takes renders in proportion to its speed): the harmonic mean."""
    costs = [c for c in per_endpoint if c > 0]
    if not costs:
        return math.inf
    return len(costs) / sum(1 / c for c in costs)
