"""The night at a glance: per job its variants, renders, failures and best pick, counted from the
files of the night's folder."""

from __future__ import annotations

from pathlib import Path

from nightrun_dagster.store.night_records import JobDigest, NightSummary
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.selection_docs import read_shortlist
from nightrun_dagster.store.variant_docs import read_params
from nightrun_dagster.store.variant_state import RenderStatus, render_status
from nightrun_dagster.store.variants_index import read_variants_index


def job_digest(job_dir: JobDir) -> JobDigest:
    """One job's counts and best pick (a job not planned or not shortlisted counts nothing)."""
    index = read_variants_index(job_dir) if job_dir.variants_index.is_file() else None
    short = read_shortlist(job_dir) if job_dir.shortlisted.is_file() else None
    statuses = [render_status(read_params(job_dir, vid)) for vid in index.variants] if index else []
    picks = short.picks if short else []
    return JobDigest(
        job=job_dir.path.name.removeprefix("job_"),
        variants=index.count if index else 0,
        rendered=statuses.count(RenderStatus.OK),
        failed=statuses.count(RenderStatus.FAILED),
        blocked=job_dir.blocked.is_file(),
        shortlisted=len(picks),
        best_total=picks[0].total if picks else None,
        best=picks[0].variant_id if picks else None,
    )


def night_digest(night_dir: Path) -> NightSummary:
    """Counts and best picks of every job of a night, from the files in its folder."""
    jobs = [job_digest(JobDir(p)) for p in sorted(Path(night_dir).glob("job_*"))]
    return NightSummary(night=Path(night_dir).name, jobs=jobs)
