"""Deterministic down-selection of a product larger than the cap.

1. Coverage rows: row r takes value `perm_a[r mod n_a]` on every axis a, for as many rows as the
   longest must-cover axis (prompts, negatives, each LoRA's arms, samplers, ControlNet arms),
   so every value of those axes appears at least once.
2. The remaining slots are filled by a scrambled Sobol sequence over the unit cube, one
   dimension per axis with more than one value, each coordinate mapped to a value index:
   low-discrepancy sampling spreads the picks evenly over every axis and every pair of axes.
   Duplicates are skipped; if Sobol keeps colliding (tiny spaces), a seeded uniform sample of
   the remaining indices completes the set.
3. The chosen product indices are sorted, so variants keep the product's stable order.

Every random choice is seeded from the caller's key (job id, night, mode), so a re-run picks
exactly the same variants.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np

_SOBOL_ROUNDS = 4


def mixed_radix_index(digits: Sequence[int], radices: Sequence[int]) -> int:
    index = 0
    for d, n in zip(digits, radices, strict=True):
        index = index * n + d
    return index


def mixed_radix_digits(index: int, radices: Sequence[int]) -> list[int]:
    digits = []
    for n in reversed(radices):
        index, d = divmod(index, n)
        digits.append(d)
    return digits[::-1]


def select_indices(
    radices: Sequence[int], must_cover: Sequence[bool], cap: int, seed: int
) -> list[int]:
    """Product indices (sorted) of at most `cap` distinct combinations; all of them when the
    product fits under the cap."""
    total = math.prod(radices)
    if total <= cap:
        return list(range(total))
    rng = random.Random(seed)
    chosen: set[int] = set()

    perms = [rng.sample(range(n), n) for n in radices]
    rows = max((n for n, cover in zip(radices, must_cover, strict=True) if cover), default=1)
    for r in range(min(rows, cap)):
        chosen.add(mixed_radix_index([p[r % len(p)] for p in perms], radices))

    varying = [i for i, n in enumerate(radices) if n > 1]
    # Imported here: scipy.stats takes seconds to import and every `nightrun` command would
    # pay for it, while only a down-selection needs it.
    from scipy.stats import qmc

    sobol = qmc.Sobol(d=len(varying), scramble=True, seed=seed % 2**32)
    sizes = np.array([radices[i] for i in varying])
    place = np.array([math.prod(radices[i + 1 :]) for i in varying], dtype=np.int64)
    drawn = 0
    for _ in range(_SOBOL_ROUNDS):
        need = cap - len(chosen)
        if need <= 0:
            break
        # Sobol' points keep their balance only in powers of two: after the first draw, each
        # round doubles what was drawn (scipy refuses anything else).
        m = max(1, math.ceil(math.log2(need * 2))) if drawn == 0 else drawn.bit_length() - 1
        points = sobol.random_base2(m)
        drawn += len(points)
        idx = np.minimum((points * sizes).astype(np.int64), sizes - 1)
        for index in (idx @ place).tolist():
            chosen.add(index)
            if len(chosen) >= cap:
                break
    if len(chosen) < cap:
        # cap * 4 draws always suffice: either they are the whole space, or fewer than a
        # quarter of them can already be chosen.
        for index in rng.sample(range(total), min(total, cap * 4)):
            if index not in chosen:
                chosen.add(index)
                if len(chosen) >= cap:
                    break
    return sorted(chosen)
