"""The night's clock (warm-up 22:45, window 23:00–08:00 Buenos Aires, video slice 01:00–03:00,
cool-down 07:30), which night a moment belongs to, and the run mode each night gets."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.night import time_scale

TIMEZONE = "America/Argentina/Buenos_Aires"
TZ = ZoneInfo(TIMEZONE)
WARMUP = time(22, 45)
WINDOW_START = time(23, 0)
VIDEO_SLICE_START = time(1, 0)
VIDEO_SLICE_END = time(3, 0)
COOL_DOWN = time(7, 30)
WINDOW_END = time(8, 0)
# A night opens with its warm-up: from then on it is "the night" (see `night_of`).
NIGHT_OPENS = WARMUP
FIRST_NIGHT = "2026-01-01"


def parse_night(night: str) -> date:
    try:
        return date.fromisoformat(night)
    except ValueError as exc:
        raise ValueError(f"night {night!r} is not a date like 2026-02-09") from exc


def window(night: str) -> tuple[datetime, datetime]:
    """Night `2026-02-09` runs from 2026-02-09 23:00 to 2026-02-10 08:00, local time."""
    d = parse_night(night)
    start = datetime.combine(d, WINDOW_START, tzinfo=TZ)
    end = datetime.combine(d + timedelta(days=1), WINDOW_END, tzinfo=TZ)
    return start, end


def at(night: str, clock: time) -> datetime:
    """The moment `clock` happens in the night: 22:45 and 23:00 on its own date, the morning
    hours on the next day."""
    d = parse_night(night)
    if clock < time(12, 0):
        d += timedelta(days=1)
    return datetime.combine(d, clock, tzinfo=TZ)


def default_stop_at(night: str, now: datetime) -> datetime | None:
    """When a render run launched without `nightrun/stop_at` stops submitting: the end of its
    night's window while that is still ahead, so a hand launch never renders into the day; a
    backfill of a night already over (None) renders what is left without a time limit."""
    end = window(night)[1]
    return end if now < end else None


def night_of(moment: datetime | None = None) -> str:
    """Which night it is at `moment` (default now): the latest night that has opened. A night
    opens with its 22:45 warm-up (Buenos Aires) on its own date, the moment Dagster's partition
    for it appears (defs/partitions.py), and stays the night until the next one opens: its
    window (23:00–08:00) and the day after, when its reports and approvals come in, belong to
    it. Schedules, partitions and commands all ask this."""
    local = (moment or time_scale.now()).astimezone(TZ)
    day = local.date() if local.time() >= NIGHT_OPENS else local.date() - timedelta(days=1)
    return day.isoformat()


def night_ahead(moment: datetime | None = None) -> str:
    """The night whose window has not ended at `moment` (default now): the one rendering now,
    or by day (08:00–22:45) the one that opens this evening. What previews of a night's
    variants and graphs default to; `night_of` for everything else."""
    moment = moment or time_scale.now()
    night = night_of(moment)
    if moment >= window(night)[1]:
        night = (parse_night(night) + timedelta(days=1)).isoformat()
    return night


def mode_for_night(night: str) -> RunMode:
    """Mon–Thu exploration, Fri/Sat exploitation, Sun maintenance (by the night's start day)."""
    weekday = parse_night(night).weekday()
    if weekday <= 3:
        return RunMode.exploration
    if weekday <= 5:
        return RunMode.exploitation
    return RunMode.maintenance
