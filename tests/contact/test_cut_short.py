"""A night a circuit breaker cut short says so on its contact sheets: which breaker, when, how
many variants were left, escaped like every other text on the page."""

import json
from pathlib import Path

from nightrun_dagster.contact.sheet import job_sheet_html, night_sheet_html

NIGHT = "2026-02-09"
REASON = "4 GPU <b>out-of-memory</b> errors"


def test_the_night_sheet_names_the_breaker_the_time_and_what_was_left(tmp_path: Path) -> None:
    night_dir = tmp_path / NIGHT
    night_dir.mkdir()
    cut = {
        "breaker": "gpu_oom",
        "reason": REASON,
        "tripped_at": "2026-02-10T05:12:00+00:00",
        "job": "verde",
        "still_latched": True,
        "left": 157,
        "left_by_job": {"verde": 157},
    }
    (night_dir / "night_summary.json").write_text(json.dumps({"cut_short": cut}))
    page = night_sheet_html(night_dir)
    assert "Night cut short: circuit breaker gpu_oom tripped at 2026-02-10T05:12:00+00:00" in page
    assert "157 variant(s) left unrendered" in page and "nightrun resume" in page
    assert "&lt;b&gt;out-of-memory&lt;/b&gt;" in page and REASON not in page

    (night_dir / "night_summary.json").write_text(json.dumps({"cut_short": None}))
    assert "cut short" not in night_sheet_html(night_dir)


def test_the_job_sheet_reads_its_breaker_record(tmp_path: Path) -> None:
    job_dir = tmp_path / NIGHT / "job_verde"
    job_dir.mkdir(parents=True)
    assert "cut short" not in job_sheet_html(job_dir)
    record = {
        "kind": "breaker",
        "reason": REASON,
        "detail": {"breaker": "gpu_oom"},
        "pending": 12,
        "at": "2026-02-10T05:12:03+00:00",
    }
    (job_dir / "breaker.json").write_text(json.dumps(record))
    page = job_sheet_html(job_dir)
    assert "Night cut short: circuit breaker gpu_oom tripped at 2026-02-10T05:12:03+00:00" in page
    assert "12 variant(s) left unrendered" in page
    assert REASON not in page and "&lt;b&gt;" in page
    # A window that closed is not a breaker.
    (job_dir / "breaker.json").write_text(json.dumps(record | {"kind": "window"}))
    assert "cut short" not in job_sheet_html(job_dir)
