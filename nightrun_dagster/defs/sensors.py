"""The queue sensor: each valid job file becomes a `job` partition; bad files are rejected."""

import hashlib
import json

import dagster as dg

from nightrun_dagster.defs.jobs import approve_jobs_job
from nightrun_dagster.defs.partitions import job_partitions
from nightrun_dagster.defs.resources import NightrunResource, TelegramResource
from nightrun_dagster.intake.queue import scan_queue
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.redact import TelegramFailure
from nightrun_dagster.telegram.updates import poll_decisions


@dg.sensor(
    name="job_queue_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches $NIGHTRUN_ROOT/queue/*.json. Each valid job becomes a partition of the dynamic "
        "`job` dimension (once); each invalid file moves to queue/rejected/ beside "
        "<name>.error.json naming the field and the reason. A bad file never fails a tick; a "
        "broken file in workflows/ is logged as a warning and rejects only the jobs naming it."
    ),
)
def job_queue_sensor(
    context: dg.SensorEvaluationContext, nightrun: NightrunResource
) -> dg.SensorResult | dg.SkipReason:
    intake = nightrun.intake()
    broken = intake.registry().broken
    if broken:
        # Every tick, so the log shows it for as long as the file sits there; only the jobs
        # naming a broken template are rejected.
        context.log.warning(
            f"{len(broken)} broken workflow template(s); jobs naming them are rejected: "
            + "; ".join(b.line() for b in broken.values())
        )
    scan = scan_queue(nightrun.tree(), intake, nightrun.queue_settle_seconds)
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


@dg.sensor(
    name="approval_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    job=approve_jobs_job,
    description=(
        "Polls Telegram (getUpdates, offset in the cursor) for button taps; records each valid "
        "decision of an allow-listed approver in the review chat in `selection/decisions.jsonl` "
        "before answering it, then requests `approvals` + `publish_packages` for that night × "
        "job, once per ledger state (also for a tap seen again after a lost tick). A malformed "
        "update is answered and skipped; one tick stays inside the telegram resource's "
        "poll_budget_s and leaves the rest to the next. Start it once Telegram is configured."
    ),
)
def approval_sensor(
    context: dg.SensorEvaluationContext, nightrun: NightrunResource, telegram: TelegramResource
) -> dg.SensorResult | dg.SkipReason:
    if not telegram.enabled():
        return dg.SkipReason("Telegram is not configured (TELEGRAM_BOT_TOKEN, …)")
    runs = nightrun.tree().root / "runs"
    try:
        result = poll_decisions(
            telegram.token,
            offset=int(context.cursor) if context.cursor else None,
            signing_key=telegram.signing_key,
            approvers=telegram.approvers(),
            review_chat_id=telegram.review_chat_id,
            runs_dir=runs,
            timeout_s=telegram.poll_timeout_s,
            base_url=telegram.base_url,
            budget_s=telegram.poll_budget_s,
        )
    except TelegramFailure as exc:  # already scrubbed of the token
        return dg.SkipReason(f"Telegram could not be polled: {exc}")
    for update_id, reason in result.ignored:
        context.log.info(f"update {update_id} ignored: {reason}")
    if result.left_for_next:
        context.log.info(f"{result.left_for_next} update(s) left for the next tick")
    requests = []
    for night, key in sorted(result.affected):
        path = ledger.decisions_path(ledger.job_dir_for(runs, night, key))
        # The run key names the ledger's state: a replayed tap (its tick's result was lost)
        # asks for the same run again, which Dagster submits only if it never was.
        try:
            state = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        except FileNotFoundError:
            state = "empty"
        requests.append(
            dg.RunRequest(
                partition_key=dg.MultiPartitionKey({"night": night, "job": key}),
                run_key=f"approvals:{night}:{key}:{state}",
            )
        )
    cursor = str(result.next_offset) if result.next_offset is not None else context.cursor
    return dg.SensorResult(run_requests=requests, cursor=cursor)
