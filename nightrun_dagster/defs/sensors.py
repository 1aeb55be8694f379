"""The queue sensor: each valid job file becomes a `job` partition; bad files are rejected."""

import hashlib
import json

import dagster as dg

from nightrun_dagster.defs.partitions import job_partitions
from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.intake.queue import scan_queue


@dg.sensor(
    name="job_queue_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches $NIGHTRUN_ROOT/queue/*.json. Each valid job becomes a partition of the dynamic "
        "`job` dimension (once); each invalid file moves to queue/rejected/ beside "
        "<name>.error.json naming the field and the reason. A bad file never fails a tick."
    ),
)
def job_queue_sensor(
    context: dg.SensorEvaluationContext, nightrun: NightrunResource
) -> dg.SensorResult | dg.SkipReason:
    scan = scan_queue(nightrun.tree(), nightrun.intake(), nightrun.queue_settle_seconds)
    for r in scan.rejected:
        reasons = "; ".join(f"{e.field}: {e.reason}" for e in r.errors)
        context.log.warning(f"rejected {r.source} -> {r.moved_to}: {reasons}")
    for path, why in scan.unmovable:
        context.log.error(f"{path} is invalid but could not be moved to rejected/: {why}")
    existing = set(context.instance.get_dynamic_partitions(job_partitions.name))
    new_keys = sorted(set(scan.valid) - existing)
    # The cursor fingerprints the queue's valid content, so the UI shows when it last changed.
    fingerprint = hashlib.sha256(
        json.dumps(sorted((k, v.sha256) for k, v in scan.valid.items())).encode()
    ).hexdigest()[:16]
    if not new_keys and fingerprint == context.cursor:
        return dg.SkipReason(
            f"queue unchanged: {len(scan.valid)} valid jobs, {len(scan.rejected)} rejected now, "
            f"{len(scan.settling)} still being written"
        )
    if new_keys:
        context.log.info(f"new job partitions: {', '.join(new_keys)}")
    return dg.SensorResult(
        dynamic_partitions_requests=[job_partitions.build_add_request(new_keys)]
        if new_keys
        else [],
        cursor=fingerprint,
    )
