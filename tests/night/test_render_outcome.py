"""What a job's render run leaves once its loop returns: the stop record, the team's notice, the
cut-short line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nightrun_dagster.comfy.render_loop import RenderReport
from nightrun_dagster.night.guard import NightGuard, StopKind
from nightrun_dagster.night.render_outcome import clear_stop_records, close_render
from nightrun_dagster.store.night_records import try_read_breaker_record, try_read_window_closed
from nightrun_dagster.store.paths import Tree

NIGHT, JOB = "2026-02-10", "shoes"


def test_a_loop_that_ran_out_of_work_writes_nothing(tree: Tree) -> None:
    job_dir = tree.job(NIGHT, JOB)
    guard = NightGuard(tree.root, night=NIGHT, job=JOB)
    outcome = close_render(job_dir, NIGHT, JOB, RenderReport(total=3, rendered=3), [], guard)
    assert outcome.stop is None and outcome.record is None and not outcome.notify
    assert outcome.cut_short() is None
    assert not job_dir.window_closed.exists() and not job_dir.breaker.exists()


def test_the_window_closing_is_recorded_and_is_no_fault(tree: Tree) -> None:
    job_dir = tree.job(NIGHT, JOB)
    job_dir.path.mkdir(parents=True)
    past = datetime.now(UTC) - timedelta(minutes=1)
    guard = NightGuard(tree.root, night=NIGHT, job=JOB, stop_at=past)
    report = RenderReport(total=5, rendered=2, stopped=guard.before_submit(), taken_back=1)
    outcome = close_render(job_dir, NIGHT, JOB, report, ["v0004", "v0005"], guard)
    record = try_read_window_closed(job_dir)
    assert outcome.record == job_dir.window_closed and record is not None
    assert record.kind == StopKind.WINDOW and record.pending_variants == ["v0004", "v0005"]
    assert record.taken_back == 1 and record.job == JOB
    assert not outcome.faulted and outcome.cut_short() is None and not outcome.notify


def test_a_breaker_this_run_tripped_is_recorded_told_and_cuts_the_job_short(tree: Tree) -> None:
    job_dir = tree.job(NIGHT, JOB)
    job_dir.path.mkdir(parents=True)
    guard = NightGuard(tree.root, night=NIGHT, job=JOB, free_bytes=lambda _: 0)
    report = RenderReport(total=4, rendered=1, skipped=1, stopped=guard.before_submit())
    outcome = close_render(job_dir, NIGHT, JOB, report, ["v0003", "v0004"], guard)
    record = try_read_breaker_record(job_dir)
    assert record is not None and record.kind == StopKind.BREAKER and record.pending == 2
    assert outcome.notify and outcome.latch is not None
    assert outcome.cut_short() == (
        f"circuit breaker {outcome.latch.breaker} tripped at {outcome.latch.tripped_at}: "
        "2 variant(s) left; 2 rendered are scored as usual"
    )
    # A second run stopped by the same latch tells no one again, and clears the old record.
    clear_stop_records(job_dir)
    assert not job_dir.breaker.exists()
    again = NightGuard(tree.root, night=NIGHT, job=JOB)
    stopped = RenderReport(total=2, stopped=again.before_submit())
    later = close_render(job_dir, NIGHT, JOB, stopped, ["v0003", "v0004"], again)
    assert later.stop is not None and later.stop.kind == StopKind.LATCHED
    assert later.faulted and not later.notify and job_dir.breaker.exists()
