"""Sharing a night's render maximum among jobs by priority."""

from __future__ import annotations

from collections.abc import Mapping


def allocate_budgets(
    demands: Mapping[str, int], priorities: Mapping[str, int], nightly_max: int
) -> dict[str, int]:
    """Renders per job: every demand is met when the night has room; otherwise the maximum is
    shared in proportion to priority + 1 (largest remainders, ties by job key), and what a job
    cannot use flows to the others. Never more than a job asks for, never more than the max."""
    budgets = {k: 0 for k in demands}
    open_jobs = sorted(k for k, d in demands.items() if d > 0)
    left = max(nightly_max, 0)
    while open_jobs and left > 0:
        weights = {k: priorities.get(k, 50) + 1 for k in open_jobs}
        total = sum(weights.values())
        shares = {k: left * weights[k] / total for k in open_jobs}
        grant = {k: min(int(shares[k]), demands[k] - budgets[k]) for k in open_jobs}
        spare = left - sum(grant.values())
        by_remainder = sorted(open_jobs, key=lambda k: (-(shares[k] - int(shares[k])), k))
        for k in by_remainder:
            if spare <= 0:
                break
            if budgets[k] + grant[k] < demands[k]:
                grant[k] += 1
                spare -= 1
        if not any(grant.values()):
            break
        for k, g in grant.items():
            budgets[k] += g
            left -= g
        open_jobs = [k for k in open_jobs if budgets[k] < demands[k]]
    return budgets
