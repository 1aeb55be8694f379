"""Sharing the nightly render maximum among jobs by priority."""

import random

import pytest

from nightrun_dagster.night.budget import allocate_budgets


def test_everything_fits() -> None:
    demands = {"a": 800, "b": 100, "c": 5}
    assert allocate_budgets(demands, {"a": 1, "b": 99, "c": 50}, 5000) == demands


def test_priority_decides_when_short() -> None:
    budgets = allocate_budgets({"hi": 800, "lo": 800}, {"hi": 90, "lo": 10}, 1000)
    assert sum(budgets.values()) == 1000
    assert budgets["hi"] == 800 and budgets["lo"] == 200  # hi's share is capped by its demand


def test_unused_share_flows_to_others() -> None:
    budgets = allocate_budgets({"small": 10, "big": 900}, {"small": 100, "big": 0}, 500)
    assert budgets == {"small": 10, "big": 490}


def test_zero_max_and_zero_demand() -> None:
    assert allocate_budgets({"a": 10}, {"a": 50}, 0) == {"a": 0}
    assert allocate_budgets({"a": 0, "b": 3}, {"a": 50, "b": 50}, 10) == {"a": 0, "b": 3}


@pytest.mark.parametrize("seed", range(25))
def test_invariants_on_random_nights(seed: int) -> None:
    rng = random.Random(seed)
    demands = {f"j{i}": rng.randint(0, 900) for i in range(rng.randint(1, 12))}
    priorities = {k: rng.randint(0, 100) for k in demands}
    nightly = rng.randint(0, 4000)
    budgets = allocate_budgets(demands, priorities, nightly)
    assert all(0 <= budgets[k] <= demands[k] for k in demands)
    assert sum(budgets.values()) == min(nightly, sum(demands.values()))
    assert budgets == allocate_budgets(demands, priorities, nightly)
