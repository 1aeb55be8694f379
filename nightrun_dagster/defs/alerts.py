"""The run-failure sensor: every failed run of this code location is reported to the Telegram
review chat (or logged when Telegram is off); a Telegram outage never fails the sensor."""

import dagster as dg

from nightrun_dagster.defs.resources import TelegramResource
from nightrun_dagster.defs.tags import MODE_TAG, PHASE_TAG
from nightrun_dagster.telegram.redact import TelegramFailure, protect, scrub
from nightrun_dagster.telegram.send import send_text

ERROR_LINES = 6  # per failed step: enough to recognise the error, short enough to read
ERROR_STEPS = 3


def _first_lines(text: str, n: int = ERROR_LINES) -> list[str]:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return [*lines[:n], "…"] if len(lines) > n else lines


def _root_error(error: object) -> object:
    # Dagster wraps a step's own exception (DagsterExecutionStepExecutionError → cause): the
    # innermost cause is the one a person can act on.
    while getattr(error, "cause", None) is not None:
        error = error.cause  # type: ignore[attr-defined]
    return error


def _partition(tags: dict[str, str]) -> str | None:
    night, job = tags.get("dagster/partition/night"), tags.get("dagster/partition/job")
    if night and job:
        return f"night {night}, job {job}"
    return tags.get("dagster/partition")


def failure_text(context: dg.RunFailureSensorContext) -> str:
    """Job, partition, run id and the failure's first lines; never a secret."""
    run = context.dagster_run
    tags = dict(run.tags)
    lines = [f"❌ Night Runs: run of {run.job_name} failed"]
    partition = _partition(tags)
    if partition:
        lines.append(f"partition: {partition}")
    if tags.get(PHASE_TAG) or tags.get(MODE_TAG):
        lines.append(f"phase: {tags.get(PHASE_TAG, '-')}, mode: {tags.get(MODE_TAG, '-')}")
    lines.append(f"run: {run.run_id}")
    steps = context.get_step_failure_events()
    for event in steps[:ERROR_STEPS]:
        data = event.step_failure_data
        error = _root_error(data.error) if data.error else None
        message = getattr(error, "message", "") or "no error message"
        lines.append(f"step {event.step_key}:")
        lines.extend(f"  {line}" for line in _first_lines(message))
    if len(steps) > ERROR_STEPS:
        lines.append(f"… and {len(steps) - ERROR_STEPS} more failed steps")
    if not steps:
        lines.extend(_first_lines(context.failure_event.message or "no failure message"))
    return "\n".join(lines)


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    description=(
        "Reports every failed run of this code location to the Telegram review chat: job, "
        "partition, run id and the error's first lines. Logs it instead when Telegram is not "
        "configured; a Telegram error is logged, never raised."
    ),
)
def run_failure_alert(context: dg.RunFailureSensorContext, telegram: TelegramResource) -> None:
    if telegram.token:
        protect(telegram.token)
    text = scrub(failure_text(context))  # an error could quote a Bot API URL, token included
    if not telegram.enabled():
        context.log.warning(f"Telegram is not configured; failure not sent:\n{text}")
        return
    try:
        message_id = send_text(telegram.token, telegram.review_chat_id, text, telegram.base_url)
    except TelegramFailure as exc:  # already scrubbed of the token
        context.log.warning(f"run failure not sent to Telegram ({exc}):\n{text}")
        return
    context.log.info(f"run {context.dagster_run.run_id} failure sent (message {message_id})")
