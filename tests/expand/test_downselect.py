"""The down-selection's product indices: distinct, within the cap, reproducible."""

from __future__ import annotations

import math

import pytest

from nightrun_dagster.expand.downselect import select_indices


@pytest.mark.parametrize(("radices", "cap"), [([3, 3, 3, 3, 3, 3], 711), ([2] * 10, 900)])
def test_a_cap_close_to_the_space_needs_several_sobol_rounds(radices: list[int], cap: int) -> None:
    """When the first draw of Sobol' points collides a lot, the later rounds draw more of the
    same sequence (in powers of two, as Sobol' balance requires) instead of failing."""
    chosen = select_indices(radices, [False] * len(radices), cap, seed=7)
    assert len(chosen) == cap == len(set(chosen))
    assert all(0 <= i < math.prod(radices) for i in chosen)
    assert chosen == select_indices(radices, [False] * len(radices), cap, seed=7)


def test_every_cap_of_a_small_space_is_met() -> None:
    radices = [3, 2, 4, 3]
    for cap in range(1, math.prod(radices) + 1):
        chosen = select_indices(radices, [True, False, False, False], cap, seed=11)
        assert len(set(chosen)) == cap
