"""Seed strategies (fixed / random / sequence); every seed is reproducible."""

from __future__ import annotations

import hashlib

from nightrun_dagster.creative_job.model import SeedStrategy

DEFAULT_SEED_COUNT = 10
HERO_SEED_COUNT = 3
# Derived seeds stay below 2**53 so every JSON reader (JavaScript included) keeps them exact.
_DERIVED_SEED_SPACE = 2**53


def derived_seed(*parts: object) -> int:
    """A seed that depends only on `parts`: the same job and night always get the same seeds."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % _DERIVED_SEED_SPACE


def strategy_seeds(strategy: SeedStrategy, job_id: str, night: str) -> list[int]:
    """All seeds of a strategy. `random` seeds derive from job id and night, so each night
    explores new seeds while a re-run of the same night repeats them exactly."""
    count = strategy.count if strategy.count is not None else DEFAULT_SEED_COUNT
    if strategy.mode == "fixed":
        return [strategy.seed if strategy.seed is not None else derived_seed(job_id, "fixed")]
    if strategy.mode == "sequence":
        start = strategy.seed_start
        if start is None:
            start = strategy.seed if strategy.seed is not None else derived_seed(job_id, "seq")
        return [start + i for i in range(count)]
    return [derived_seed(job_id, night, i) for i in range(count)]


def hero_seeds(strategy: SeedStrategy, job_id: str) -> list[int]:
    """Exploitation's seeds: the fixed seed, or the first few of the strategy, stable across
    nights (random hero seeds derive from the job alone)."""
    seeds = strategy_seeds(strategy, job_id, night="hero")
    return seeds[:HERO_SEED_COUNT]
