"""The night's GPU time shared among jobs: priorities, slices, the flow of unused time."""

from datetime import UTC, datetime, timedelta

import pytest

from nightrun_dagster.plan.time_shares import (
    MARGIN_FRACTION,
    Slice,
    SliceName,
    TimeJob,
    effective_cost,
    fill,
    share_slice,
)

START = datetime(2026, 2, 10, 2, 0, tzinfo=UTC)  # 23:00 Buenos Aires
NINE_HOURS = ((START, START + timedelta(hours=9)),)


def images(*jobs: TimeJob, endpoints: int = 1) -> Slice:
    return Slice(SliceName.IMAGES, NINE_HOURS, endpoints)


def job(key: str, priority: int, cost: float, demand: int, room: int = 0) -> TimeJob:
    return TimeJob(key, priority, SliceName.IMAGES, cost, demand, room)


def test_contested_time_is_shared_in_proportion_to_priority_plus_one() -> None:
    jobs = [job("a", 80, 25.0, 5000), job("b", 40, 25.0, 5000), job("c", 0, 25.0, 5000)]
    shares = share_slice(images(), jobs, extras=False)
    seconds = {k: s.seconds for k, s in shares.jobs.items()}
    total = sum(seconds.values())
    # 81 : 41 : 1 of the time, to within one render each.
    assert seconds["a"] / total == pytest.approx(81 / 123, abs=0.002)
    assert seconds["b"] / total == pytest.approx(41 / 123, abs=0.002)
    assert shares.jobs["c"].renders >= 9  # priority 0 still gets its 1/123
    # The slice is full: what is left is less than one render.
    assert shares.gpu_seconds - total < 25.0
    assert shares.free_at is None


def test_time_a_job_cannot_use_flows_to_the_others() -> None:
    small = job("small", 90, 25.0, 40)  # needs 1,000 s of its ~29,000 s share
    big = job("big", 10, 35.0, 10_000)
    shares = share_slice(images(), [small, big], extras=False)
    assert shares.jobs["small"].renders == 40
    expected_big = int((shares.gpu_seconds - 40 * 25.0) // 35.0)
    assert shares.jobs["big"].renders == expected_big


def test_costs_turn_time_into_renders_per_job() -> None:
    # Same priority, same time: the dearer template gets fewer renders.
    shares = share_slice(
        images(), [job("sdxl", 50, 25.0, 9999), job("anchored", 50, 35.0, 9999)], extras=False
    )
    sdxl, anchored = shares.jobs["sdxl"], shares.jobs["anchored"]
    assert sdxl.seconds == pytest.approx(anchored.seconds, abs=35.0)
    assert sdxl.renders / anchored.renders == pytest.approx(35 / 25, rel=0.01)


def test_the_margin_and_the_last_prompt_are_kept_free() -> None:
    shares = share_slice(images(), [job("a", 50, 25.0, 99_999)], extras=False)
    window = 9 * 3600
    assert shares.gpu_seconds == pytest.approx(window * (1 - MARGIN_FRACTION) - 25.0)
    assert shares.jobs["a"].finish <= START + timedelta(hours=9)


def test_under_capacity_says_when_the_gpu_is_free() -> None:
    shares = share_slice(images(), [job("a", 50, 25.0, 100), job("b", 10, 35.0, 100)], extras=False)
    planned = 100 * 25.0 + 100 * 35.0
    assert shares.planned_seconds == planned
    assert shares.free_at == START + timedelta(seconds=planned)
    # Highest priority first, one after the other.
    assert shares.jobs["a"].start == START
    assert shares.jobs["b"].start == shares.jobs["a"].finish


def test_exploration_extras_fill_the_spare_time_within_each_jobs_room() -> None:
    jobs = [job("a", 50, 25.0, 100, room=700), job("b", 50, 25.0, 100, room=50)]
    shares = share_slice(images(), jobs, extras=True)
    assert shares.jobs["b"].extra == 50  # all its room
    # a takes the rest of its room (the night has 1,200+ renders of spare time).
    assert shares.jobs["a"].extra == 700
    without = share_slice(images(), jobs, extras=False)
    assert all(s.extra == 0 for s in without.jobs.values())


def test_the_ceiling_caps_renders_by_priority() -> None:
    jobs = [job("a", 99, 1.0, 10_000), job("b", 0, 1.0, 10_000)]
    shares = share_slice(images(), jobs, extras=False, ceiling=1000)
    assert shares.jobs["a"].renders + shares.jobs["b"].renders == 1000
    # 100/101 of 1000 is 990.1, 1/101 is 9.9: the render left over goes to the higher priority.
    assert (shares.jobs["a"].renders, shares.jobs["b"].renders) == (991, 9)
    assert shares.free_at is not None  # the ceiling, not the time, stopped them


def test_two_gpus_double_the_time_and_split_spans() -> None:
    one = share_slice(images(), [job("a", 50, 25.0, 99_999)], extras=False)
    two = share_slice(images(endpoints=2), [job("a", 50, 25.0, 99_999)], extras=False)
    assert two.jobs["a"].renders == pytest.approx(2 * one.jobs["a"].renders, abs=2)


def test_an_images_slice_around_the_video_slice_skips_it() -> None:
    v0, v1 = START + timedelta(hours=2), START + timedelta(hours=4)
    sl = Slice(SliceName.IMAGES, ((START, v0), (v1, START + timedelta(hours=9))))
    assert sl.seconds == 7 * 3600
    assert sl.moment(3 * 3600) == v1 + timedelta(hours=1)


def test_fill_never_gives_more_than_asked_and_spends_the_remainder() -> None:
    got = fill(100.0, {"a": 30.0, "b": 30.0}, {"a": 1, "b": 10}, {"a": 50, "b": 50})
    assert got == {"a": 1, "b": 2}


def test_effective_cost_is_the_harmonic_mean_of_the_endpoints() -> None:
    assert effective_cost([20.0, 30.0]) == pytest.approx(24.0)
    assert effective_cost([]) == float("inf")
