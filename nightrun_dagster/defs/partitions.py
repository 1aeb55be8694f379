"""Night × job partitions (DESIGN.md): nights are daily from the 22:45 warm-up (Buenos Aires),
jobs dynamic."""

from typing import Any

import dagster as dg

from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.night.window import FIRST_NIGHT, NIGHT_OPENS, TIMEZONE
from nightrun_dagster.store.paths import JobDir

# A night's partition opens with its warm-up (22:45), so the warm-up run can already target it:
# a daily partition appears when its 24 hours end, end_offset 1 moves that to when they begin.
# The newest key at any moment is `night.window.night_of` of that moment.
night_partitions = dg.DailyPartitionsDefinition(
    start_date=FIRST_NIGHT,
    hour_offset=NIGHT_OPENS.hour,
    minute_offset=NIGHT_OPENS.minute,
    timezone=TIMEZONE,
    end_offset=1,
)
job_partitions = dg.DynamicPartitionsDefinition(name="job")
night_job_partitions = dg.MultiPartitionsDefinition(
    {"night": night_partitions, "job": job_partitions}
)


def night_job_key(night: str, job: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"night": night, "job": job})


def split_key(context: dg.AssetExecutionContext) -> tuple[str, str]:
    """(night, job) of a night × job run."""
    key = context.partition_key
    assert isinstance(key, dg.MultiPartitionKey)
    dims = key.keys_by_dimension
    return dims["night"], dims["job"]


def job_partition(
    context: dg.AssetExecutionContext, nightrun: NightrunResource
) -> tuple[str, str, JobDir]:
    """(night, job, the job's folder) of a night × job run."""
    night, key = split_key(context)
    return night, key, nightrun.tree().job(night, key)


def night_asset(group: str, **spec: Any) -> Any:
    """`dg.asset` of a night partition in `group` (the description is the function's
    docstring, as Dagster reads it)."""
    return dg.asset(group_name=group, partitions_def=night_partitions, **spec)


def night_job_asset(group: str, **spec: Any) -> Any:
    """`dg.asset` of a night × job partition in `group`."""
    return dg.asset(group_name=group, partitions_def=night_job_partitions, **spec)
