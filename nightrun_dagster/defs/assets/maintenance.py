"""Maintenance asset: `retention` (per night; the Sunday run or on demand) prunes old renders."""

from datetime import date, timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from nightrun_dagster.defs.partitions import night_asset
from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.retention import (
    DEFAULT_KEEP_DAYS,
    DEFAULT_KEEP_TOP_K,
    RetentionError,
    RetentionReport,
    retain,
)

GROUP = "maintenance"


class RetentionConfig(dg.Config):
    dry_run: bool = Field(default=False, description="Only list what would go; change nothing.")
    keep_top_k: int = Field(
        default=DEFAULT_KEEP_TOP_K, description="Best-scored renders kept per job after keep_days."
    )
    keep_days: int = Field(
        default=DEFAULT_KEEP_DAYS, description="Nights younger than this keep every render."
    )


def _protected(reasons: dict[str, list[str]]) -> str:
    return ", ".join(v + " (" + "/".join(r) + ")" for v, r in reasons.items()) or "–"


def jobs_table(report: RetentionReport) -> str:
    """One markdown row per job of the old nights: what goes and what stays."""
    rows = [
        f"| {j.night} | {j.job_key} | {j.rendered} | {len(j.kept_top)} | "
        f"{_protected(j.protected)} | {j.files} | {j.bytes:,} | {j.archive} |"
        for j in report.plan.jobs
    ]
    head = (
        "| night | job | rendered | top kept | protected | files going | bytes | to archive |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([head, *rows])


@night_asset(GROUP, kinds={"json"})
def retention(
    context: dg.AssetExecutionContext, nightrun: NightrunResource, config: RetentionConfig
) -> dg.MaterializeResult:
    """Retention, run on the maintenance (Sunday) night or on demand: for every night older than
    keep_days (counted from the partition night's morning), each job keeps the outputs of its
    keep_top_k best-scored renders and of everything shortlisted, approved or published; every
    other file in `variants/*/out/` is deleted. Approved and published outputs are also copied to
    `archive/<night>/job_<key>/<variant>/` (sha256-checked). Metadata (meta/, selection/,
    publish/, inputs/) is never touched; each pruned variant gets `meta/retention.json` so it is
    never rendered again. The report is appended to `ops/retention/<date>.json`; `dry_run`
    changes nothing and writes no report."""
    night = context.partition_key
    today = date.fromisoformat(night) + timedelta(days=1)  # the maintenance night's morning
    try:
        report = retain(
            nightrun.tree().root,
            today,
            config.keep_top_k,
            config.keep_days,
            dry_run=config.dry_run,
        )
    except (RetentionError, ValueError) as exc:
        raise dg.Failure(f"retention stopped: {exc}") from None
    verb = "would delete" if config.dry_run else "deleted"
    context.log.info(
        f"retention as of {today}: {verb} {len(report.deleted)} files ({report.bytes_freed:,} "
        f"bytes) in {len(report.plan.nights)} nights; archived {len(report.archived)}"
    )
    metadata: dict[str, Any] = {
        "dry_run": config.dry_run,
        "today": today.isoformat(),
        "nights": dg.MetadataValue.json(report.plan.nights),
        "deleted": len(report.deleted),
        "bytes_freed": report.bytes_freed,
        "archived": len(report.archived),
        "kept": report.plan.kept,
        "jobs": dg.MetadataValue.md(jobs_table(report)),
    }
    if report.report_path is not None:
        metadata["report"] = dg.MetadataValue.path(str(report.report_path))
    return dg.MaterializeResult(metadata=metadata)
