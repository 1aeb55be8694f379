"""The night partitions and `night.window.night_of` give one answer to "which night is it"."""

from datetime import datetime, timedelta

import dagster as dg

from nightrun_dagster.defs.partitions import night_partitions
from nightrun_dagster.night.window import TZ, night_of


def newest_night(moment: datetime) -> str | None:
    with dg.partition_loading_context(effective_dt=moment):
        return night_partitions.get_last_partition_key()


def test_the_newest_night_partition_is_night_of_every_moment() -> None:
    # Two days in 15-minute steps, with each switch (22:45) and window end (08:00) on a step.
    start = datetime(2026, 2, 9, 0, 0, tzinfo=TZ)
    moments = [start + timedelta(minutes=15 * i) for i in range(2 * 24 * 4)]
    assert {night_of(m) for m in moments} == {"2026-02-08", "2026-02-09", "2026-02-10"}
    for moment in moments:
        assert newest_night(moment) == night_of(moment), moment
    # The second before the warm-up the night is not open yet; at the warm-up it is.
    opens = datetime(2026, 2, 10, 22, 45, tzinfo=TZ)
    assert newest_night(opens - timedelta(seconds=1)) == "2026-02-09"
    assert newest_night(opens) == night_of(opens) == "2026-02-10"
