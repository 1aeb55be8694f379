"""The night's last steps: `night_cleanup` (07:30 cool-down) and `night_close` (08:00 hard stop)."""

from datetime import UTC, datetime

import dagster as dg

from nightrun_dagster.defs.assets.selection import night_summary
from nightrun_dagster.defs.partitions import night_asset
from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.night.breakers import read_latch
from nightrun_dagster.night.closing import close_record
from nightrun_dagster.retention import sweep_temp
from nightrun_dagster.store.night_records import CleanupRecord, write_cleanup, write_night_closed

GROUP = "night"


@night_asset(GROUP, deps=[night_summary], kinds={"json"})
def night_cleanup(
    context: dg.AssetExecutionContext, nightrun: NightrunResource
) -> dg.MaterializeResult:
    """Cool-down cleanup: temp files writers left in `runs/<night>/` (a killed run's atomic-write
    siblings, partial downloads, publish staging) older than 10 minutes are removed; the list is
    kept in `runs/<night>/cleanup.json`."""
    night = context.partition_key
    night_dir = nightrun.tree().night(night)
    removed = sweep_temp(night_dir)
    record = CleanupRecord(
        night=night,
        removed=[str(p.relative_to(night_dir)) for p in removed],
        at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if night_dir.is_dir():
        write_cleanup(night_dir, record)
    context.log.info(f"night {night}: {len(removed)} temp files removed")
    return dg.MaterializeResult(
        metadata={"removed": len(removed), "files": dg.MetadataValue.json(record.removed[:50])}
    )


@night_asset(GROUP, kinds={"json"})
def night_close(
    context: dg.AssetExecutionContext, nightrun: NightrunResource
) -> dg.MaterializeResult:
    """The 08:00 record of how the night ended, `runs/<night>/night_closed.json`: per job,
    variants rendered and left (the render loop's `window_closed.json` or `breaker.json` says why
    it stopped), left for the next night; and any latched circuit breaker."""
    night = context.partition_key
    tree = nightrun.tree()
    record = close_record(tree, night, read_latch(tree.root))
    path = write_night_closed(tree, record)
    left = sum(j.left for j in record.jobs)
    context.log.info(f"night {night} closed: {left} variants left for the next night")
    lines = [
        "| job | variants | rendered | failed | left | stopped by |",
        "|---|---|---|---|---|---|",
    ]
    for j in record.jobs:
        lines.append(
            f"| {j.job} | {j.variants} | {j.rendered} | {j.failed} | {j.left} "
            f"| {j.stopped_by or '–'} |"
        )
    return dg.MaterializeResult(
        metadata={
            "left": left,
            "rendered": sum(j.rendered for j in record.jobs),
            "breaker": record.breaker["breaker"] if record.breaker else "none",
            "jobs": dg.MetadataValue.md("\n".join(lines)),
            "path": dg.MetadataValue.path(str(path)),
        }
    )
