"""The night's compressed clock: its pace, its environment form, and standing before it runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from nightrun_dagster.night.time_scale import TimeScale

START = datetime(2026, 3, 5, 22, 48, tzinfo=UTC)


def test_it_runs_factor_night_seconds_per_wall_second() -> None:
    scale = TimeScale(90.0, START, time.time() - 10)
    assert (scale.now() - START).total_seconds() == pytest.approx(900, abs=45)
    assert scale.wall_seconds(90) == 1.0 and scale.night_seconds(2) == 180.0
    assert scale.wall_time(START + timedelta(minutes=15)) == pytest.approx(scale.wall_start + 10)


def test_it_stands_at_its_start_until_the_wall_reaches_it() -> None:
    """The bench's night waits at 22:48 while its services and first runs start."""
    scale = TimeScale(90.0, START, time.time() + 60)
    assert scale.now() == START


def test_the_environment_form_round_trips_and_bad_forms_are_named() -> None:
    scale = TimeScale(360.0, START, 1_800_000_000.5)
    assert TimeScale.parse(scale.to_env()) == scale
    with pytest.raises(ValueError, match="is not <factor>@<ISO moment with offset>@<epoch"):
        TimeScale.parse("fast")
    with pytest.raises(ValueError, match="the factor must be > 0"):
        TimeScale.parse(f"0@{START.isoformat()}@1")
