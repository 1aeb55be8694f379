"""The cool-down's look at the whole night: the digest of every job with how the night was cut
short, written to `night_summary.json`, and the night's contact sheet beside it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nightrun_dagster.contact.sheet import write_night_sheet
from nightrun_dagster.night.closing import cut_short, cut_short_line
from nightrun_dagster.selection.digest import night_digest
from nightrun_dagster.store.night_records import NightSummary, write_night_summary
from nightrun_dagster.store.paths import Tree


@dataclass
class NightSummaryReport:
    """What the summary found and wrote; `cut_line` says which breaker cut the night short."""

    summary: NightSummary
    path: Path
    sheet: Path

    @property
    def cut_line(self) -> str | None:
        cut = self.summary.cut_short
        return cut_short_line(cut) if cut else None

    def totals(self) -> dict[str, int]:
        jobs = self.summary.jobs
        return {
            "jobs": len(jobs),
            "rendered": sum(j.rendered for j in jobs),
            "failed": sum(j.failed for j in jobs),
            "shortlisted": sum(j.shortlisted for j in jobs),
        }


def summarize_night(tree: Tree, night: str) -> NightSummaryReport:
    """Digest the night's jobs, write `night_summary.json` and the night's contact sheet.
    FileNotFoundError when nothing ran that night."""
    night_dir = tree.night(night)
    if not night_dir.is_dir():
        raise FileNotFoundError(f"{night_dir} does not exist: nothing ran on night {night}")
    digest = night_digest(night_dir)
    digest.cut_short = cut_short(tree, night)
    path = write_night_summary(night_dir, digest)
    return NightSummaryReport(digest, path, write_night_sheet(night_dir))
