"""Contact sheets: self-contained HTML pages to browse a job's or a night's renders and scores."""

from nightrun_dagster.contact.sheet import collect_rows, write_job_sheet, write_night_sheet

__all__ = ["collect_rows", "write_job_sheet", "write_night_sheet"]
