"""The night window, which night a moment belongs to and the weekday run modes."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.night.window import (
    default_stop_at,
    mode_for_night,
    night_ahead,
    night_of,
    parse_night,
    window,
)

BA = ZoneInfo("America/Argentina/Buenos_Aires")


def test_window_is_23_to_08_buenos_aires() -> None:
    start, end = window("2026-02-09")
    assert start.isoformat() == "2026-02-09T23:00:00-03:00"
    assert end.isoformat() == "2026-02-10T08:00:00-03:00"


@pytest.mark.parametrize(
    ("local", "night"),
    [
        (datetime(2026, 2, 9, 22, 44, 59, tzinfo=BA), "2026-02-08"),
        (datetime(2026, 2, 9, 22, 45, tzinfo=BA), "2026-02-09"),  # the warm-up opens it
        (datetime(2026, 2, 9, 23, 30, tzinfo=BA), "2026-02-09"),
        (datetime(2026, 2, 10, 3, 0, tzinfo=BA), "2026-02-09"),
        (datetime(2026, 2, 10, 7, 59, tzinfo=BA), "2026-02-09"),
        # The window has closed; its reports and approvals still belong to it until 22:45.
        (datetime(2026, 2, 10, 8, 0, tzinfo=BA), "2026-02-09"),
        (datetime(2026, 2, 10, 15, 0, tzinfo=BA), "2026-02-09"),
        (datetime(2026, 2, 10, 22, 45, tzinfo=BA), "2026-02-10"),
        (datetime(2026, 2, 10, 4, 0, tzinfo=ZoneInfo("UTC")), "2026-02-09"),  # 01:00 in BA
        (datetime(2026, 2, 11, 1, 45, tzinfo=ZoneInfo("UTC")), "2026-02-10"),  # 22:45 in BA
    ],
)
def test_night_of_switches_at_the_warm_up(local: datetime, night: str) -> None:
    assert night_of(local) == night


@pytest.mark.parametrize(
    ("local", "night"),
    [
        (datetime(2026, 2, 9, 23, 30, tzinfo=BA), "2026-02-09"),
        (datetime(2026, 2, 10, 3, 0, tzinfo=BA), "2026-02-09"),
        (datetime(2026, 2, 10, 7, 59, tzinfo=BA), "2026-02-09"),
        # By day the night ahead is the one that opens this evening.
        (datetime(2026, 2, 10, 8, 0, tzinfo=BA), "2026-02-10"),
        (datetime(2026, 2, 10, 15, 0, tzinfo=BA), "2026-02-10"),
        (datetime(2026, 2, 10, 22, 45, tzinfo=BA), "2026-02-10"),
        (datetime(2026, 2, 10, 4, 0, tzinfo=ZoneInfo("UTC")), "2026-02-09"),  # 01:00 in BA
    ],
)
def test_night_ahead_switches_when_the_window_ends(local: datetime, night: str) -> None:
    assert night_ahead(local) == night


@pytest.mark.parametrize(
    ("night", "mode"),
    [
        ("2026-02-09", RunMode.exploration),  # Monday
        ("2026-02-12", RunMode.exploration),  # Thursday
        ("2026-02-13", RunMode.exploitation),  # Friday
        ("2026-02-14", RunMode.exploitation),  # Saturday
        ("2026-02-15", RunMode.maintenance),  # Sunday
    ],
)
def test_mode_by_weekday(night: str, mode: RunMode) -> None:
    assert mode_for_night(night) is mode


def test_bad_night_is_named() -> None:
    with pytest.raises(ValueError, match="'2026-13-01' is not a date"):
        parse_night("2026-13-01")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Launched by hand in the afternoon before the night, or during it: the window's end.
        (datetime(2026, 2, 9, 15, 0, tzinfo=BA), "2026-02-10T08:00:00-03:00"),
        (datetime(2026, 2, 10, 2, 0, tzinfo=BA), "2026-02-10T08:00:00-03:00"),
        (datetime(2026, 2, 10, 7, 59, tzinfo=BA), "2026-02-10T08:00:00-03:00"),
        # A backfill once the night is over has no time limit.
        (datetime(2026, 2, 10, 8, 0, tzinfo=BA), None),
        (datetime(2026, 3, 1, 12, 0, tzinfo=BA), None),
    ],
)
def test_default_stop_at_is_the_end_of_a_window_still_ahead(
    now: datetime, expected: str | None
) -> None:
    stop = default_stop_at("2026-02-09", now)
    assert (stop.isoformat() if stop else None) == expected
