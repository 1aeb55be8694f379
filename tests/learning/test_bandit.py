"""The bandit: 80/20 with no evidence, budget moving to the better arm over simulated nights,
exploration never under its floor, every arm keeping its slice, seeded per night."""

import itertools
import math
import random
from datetime import date, timedelta

import pytest

from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.learning.bandit import (
    ArmStats,
    BanditConfigError,
    allocate,
    exploration_share,
)

FLOOR = 0.2
TRUE_RATES = {"good": 0.6, "bad": 0.1, "meh": 0.25}
BUDGET = 120


def nights(first: str, n: int) -> list[str]:
    start = date.fromisoformat(first)
    return [(start + timedelta(days=i)).isoformat() for i in range(n)]


def simulate(n_nights: int, seed: int = 7) -> list:
    """Each night: allocate, render, the shortlist shows a tenth of each arm's renders and a
    person approves each shown pick with the arm's true rate; the evidence accumulates."""
    rng = random.Random(seed)
    stats: dict[str, ArmStats] = {}
    history = []
    for night in nights("2026-02-02", n_nights):
        split = allocate(list(TRUE_RATES), stats, BUDGET, night=night, salt="job")
        history.append(split)
        for arm in split.arms:
            shown = max(1, arm.budget // 10)
            approved = sum(rng.random() < TRUE_RATES[arm.arm] for _ in range(shown))
            stats[arm.arm] = stats.get(arm.arm, ArmStats()) + ArmStats(shown, approved)
    return history


def test_no_evidence_is_80_exploration_20_exploitation() -> None:
    split = allocate(["a", "b", "c", "d"], {}, 100, night="2026-02-09")
    assert split.exploration_share == pytest.approx(0.8)
    assert split.evidence == 0
    assert sum(split.budgets().values()) == 100
    # 80 % spread evenly, the 20 % by Thompson on flat priors: nearly even.
    assert all(20 <= b <= 30 for b in split.budgets().values())
    assert sum(a.share for a in split.arms) == pytest.approx(1.0)
    for a in split.arms:
        assert a.share >= 0.8 / 4


def test_budget_moves_to_the_better_arm_over_nights_without_starving_exploration() -> None:
    runs = [simulate(10, seed) for seed in range(8)]  # eight teams, eight approval histories
    curves = [[split.share_of("good") for split in history] for history in runs]
    for good in curves:
        assert good[0] == pytest.approx(1 / 3, abs=0.05)  # no evidence on the first night
        assert good[-1] > good[0] + 0.25
    mean = [sum(c[i] for c in curves) / len(curves) for i in range(10)]
    assert all(b > a for a, b in itertools.pairwise(mean))  # night after night it rises
    assert mean[-1] > 0.6  # the better arm ends with most of the budget
    for history in runs:
        last = history[-1].budgets()
        assert last["good"] > last["meh"] and last["good"] > last["bad"]
        shares = [split.exploration_share for split in history]
        assert shares[0] == pytest.approx(0.8)
        assert all(b < a for a, b in itertools.pairwise(shares))  # evidence shrinks it
        for split in history:
            assert split.exploration_share >= FLOOR
            slice_ = math.floor(BUDGET * split.exploration_share / len(TRUE_RATES))
            assert slice_ >= math.floor(BUDGET * FLOOR / len(TRUE_RATES))
            for arm in split.arms:
                assert arm.budget >= slice_  # the worst arm still gets its exploration slice
            assert sum(split.budgets().values()) == BUDGET


def test_exploration_approaches_but_never_crosses_the_floor() -> None:
    assert exploration_share(0) == pytest.approx(0.8)
    assert exploration_share(60) == pytest.approx(0.5)  # halfway at the evidence scale
    huge = exploration_share(10**9)
    assert FLOOR <= huge < FLOOR + 1e-6
    stats = {"good": ArmStats(100_000, 60_000), "bad": ArmStats(100_000, 1_000)}
    split = allocate(["good", "bad"], stats, 1000, night="2026-02-09")
    assert split.exploration_share >= FLOOR
    assert split.budgets()["bad"] >= math.floor(1000 * FLOOR / 2)
    with pytest.raises(BanditConfigError):
        exploration_share(0, floor=0.5, start=0.3)


def test_run_modes() -> None:
    stats = {"a": ArmStats(4, 3), "b": ArmStats(4, 0)}
    explore = allocate(["a", "b"], stats, 50, night="2026-02-09", mode=RunMode.exploration)
    exploit = allocate(["a", "b"], stats, 50, night="2026-02-13", mode=RunMode.exploitation)
    assert explore.exploration_share > 0.7
    assert exploit.exploration_share == pytest.approx(FLOOR)  # Fri/Sat: the floor directly
    assert exploit.share_of("a") > explore.share_of("a")
    assert exploit.budgets()["b"] >= math.floor(50 * FLOOR / 2)
    sunday = allocate(["a", "b"], stats, 50, night="2026-02-15", mode=RunMode.maintenance)
    assert sunday.budgets() == {"a": 0, "b": 0}


def test_deterministic_per_night_and_seeded_by_it() -> None:
    stats = {"a": ArmStats(5, 2), "b": ArmStats(5, 2), "c": ArmStats(1, 0)}
    first = allocate(["a", "b", "c"], stats, 97, night="2026-02-09", salt="job")
    assert allocate(["a", "b", "c"], stats, 97, night="2026-02-09", salt="job") == first
    others = {
        allocate(["a", "b", "c"], stats, 97, night=n, salt="job").arms[0].win_rate
        for n in nights("2026-02-10", 5)
    }
    assert len(others | {first.arms[0].win_rate}) > 1  # other nights draw other samples


def test_capacity_caps_an_arm_and_the_rest_flows_to_the_others() -> None:
    stats = {"good": ArmStats(50, 45), "bad": ArmStats(50, 2), "new": ArmStats()}
    split = allocate(["good", "bad", "new"], stats, 100, night="2026-02-09", capacity=40)
    budgets = split.budgets()
    assert budgets["good"] == 40  # all it holds, though its share asks for more
    assert split.share_of("good") * 100 > 40
    assert sum(budgets.values()) == 100
    assert 0 < budgets["bad"] < budgets["new"] <= 40
    small = allocate(["x", "y"], {}, 100, night="2026-02-09", capacity={"x": 5, "y": 7})
    assert small.budgets() == {"x": 5, "y": 7}


def test_untried_arms_get_exploration_and_optimism() -> None:
    stats = {"tried": ArmStats(40, 4)}
    split = allocate(["tried", "untried"], stats, 100, night="2026-02-09")
    # The untried arm's flat prior beats a 10 % arm in most Thompson draws.
    assert split.budgets()["untried"] > split.budgets()["tried"]


def test_a_small_budget_explores_a_run_of_arms_that_moves_with_the_night() -> None:
    arms = [f"arm{i:02d}" for i in range(20)]
    explored: set[str] = set()
    for night in nights("2026-02-02", 10):
        split = allocate(arms, {}, 5, night=night, salt="job")
        assert sum(a.explore for a in split.arms) == 4  # ceil(5 × 0.8)
        run = [i for i, a in enumerate(split.arms) if a.explore]
        # A run of consecutive arms (cyclic): in covering order, that spreads prompts and LoRAs.
        assert any(set(run) == {(s + k) % 20 for k in range(4)} for s in range(20))
        explored |= {arms[i] for i in run}
        assert sum(split.budgets().values()) == 5
    assert len(explored) > 8  # other nights, other arms
