"""The guard's deadlines: a render that would only start after the window or the job's share
ends is not submitted, and what is already queued runs when it starts in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nightrun_dagster.night.guard import NightGuard, StopKind
from nightrun_dagster.store.paths import Tree

NIGHT, JOB = "2026-02-10", "teaser"
NOW = datetime(2026, 2, 11, 5, 56, tzinfo=UTC)  # 02:56 in Buenos Aires


def guard(tree: Tree, **deadlines: datetime) -> NightGuard:
    return NightGuard(tree.root, night=NIGHT, job=JOB, now=lambda: NOW, **deadlines)


def test_a_clip_that_would_start_after_the_slice_is_not_submitted(tree: Tree) -> None:
    slice_end = NOW + timedelta(minutes=4)  # 03:00
    g = guard(tree, stop_at=slice_end)
    g.render_s = 100.0
    assert g.starts_at(2) == NOW + timedelta(seconds=200)
    assert g.before_submit(queued=2) is None  # starts 02:59:20, before the slice ends
    halt = g.before_submit(queued=3)  # would start 03:01
    assert halt is not None and halt.kind is StopKind.WINDOW and halt.drain
    assert "before another render could start" in halt.reason and "03:00" in halt.reason


def test_once_the_deadline_has_passed_the_queue_is_taken_back(tree: Tree) -> None:
    g = guard(tree, stop_at=NOW - timedelta(seconds=1))
    g.render_s = 100.0
    halt = g.before_submit(queued=0)
    assert halt is not None and halt.kind is StopKind.WINDOW and not halt.drain
    assert halt.reason.startswith("window closed at")


def test_the_share_ends_ahead_of_the_window(tree: Tree) -> None:
    g = guard(tree, stop_at=NOW + timedelta(hours=2))
    g.share_until = NOW + timedelta(seconds=50)
    g.render_s = 20.0
    assert g.before_submit(queued=2) is None  # starts at +40 s
    halt = g.before_submit(queued=3)  # +60 s: past the share
    assert halt is not None and halt.kind is StopKind.SHARE and halt.drain
    g.share_until = NOW
    halt = g.before_submit()
    assert halt is not None and halt.kind is StopKind.SHARE and not halt.drain


def test_without_a_render_time_only_the_clock_counts(tree: Tree) -> None:
    """A count plan gives no time share: the run submits until the deadline itself."""
    g = guard(tree, stop_at=NOW + timedelta(seconds=1))
    assert g.starts_at(5) == NOW
    assert g.before_submit(queued=5) is None
