"""The cool-down's night summary: every job counted, `night_summary.json` and the night's
contact sheet written, the breaker that cut the night short named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.contact.summary import summarize_night
from nightrun_dagster.night.breakers import Trip, latch
from nightrun_dagster.store.night_records import try_read_night_summary
from nightrun_dagster.store.paths import Tree


def test_the_summary_counts_each_job_and_writes_its_files(sample_night: Any) -> None:
    night_dir: Path = sample_night.night_dir
    tree = Tree(night_dir.parents[1])
    report = summarize_night(tree, night_dir.name)
    jobs = {j.job: j for j in report.summary.jobs}
    assert jobs["promo-cafe-12"].rendered == 6 and jobs["promo-cafe-12"].failed == 1
    assert jobs["promo-cafe-12"].shortlisted == 3 and jobs["promo-cafe-12"].best == "v0002"
    assert report.totals() == {
        "jobs": 2,
        "rendered": sum(j.rendered for j in jobs.values()),
        "failed": sum(j.failed for j in jobs.values()),
        "shortlisted": 3,
    }
    written = try_read_night_summary(night_dir)
    assert written is not None and [j.job for j in written.jobs] == sorted(jobs)
    assert report.path == night_dir / "night_summary.json" and report.sheet.is_file()
    assert report.summary.cut_short is None and report.cut_line is None


def test_a_latched_breaker_cuts_the_summary_short(sample_night: Any) -> None:
    night_dir: Path = sample_night.night_dir
    tree = Tree(night_dir.parents[1])
    trip = Trip("disk_free", "disk almost full", 1.0, 20.0)
    latch(tree.root, trip, night=night_dir.name, job=None)
    report = summarize_night(tree, night_dir.name)
    assert report.summary.cut_short is not None
    assert report.summary.cut_short["breaker"] == "disk_free"
    assert report.cut_line is not None and "disk_free" in report.cut_line


def test_a_night_nothing_ran_on_is_said_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing ran on night 2026-02-10"):
        summarize_night(Tree(tmp_path), "2026-02-10")
