"""Top K per cluster and top N overall, greedily by total score.

A candidate joins the shortlist, best total first, unless its variant cluster (prompt variant ×
LoRA arms) or its near-duplicate group (pHash) already holds K picks. So the shortlist never
shows more than K takes on one idea, nor more than K copies of one picture.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_K = 2  # per variant cluster and per near-duplicate group
DEFAULT_N = 20  # seed §5: 10-30 candidates go to Telegram


@dataclass(frozen=True)
class Candidate:
    variant_id: str
    file: str  # the scored output, relative to the variant folder
    preview: str | None
    total: float
    components: dict[str, float | None]
    cluster: str  # variant cluster: prompt variant × LoRA arms
    phash: int


@dataclass(frozen=True)
class Pick:
    rank: int
    candidate: Candidate
    dup_group: str
    reason: str


@dataclass
class Shortlist:
    picks: list[Pick] = field(default_factory=list)
    clusters: dict[str, list[str]] = field(default_factory=dict)
    dup_groups: dict[str, list[str]] = field(default_factory=dict)
    skipped_full_cluster: int = 0
    skipped_duplicate: int = 0


def variant_cluster(prompt_index: int, loras: Sequence[dict[str, Any]]) -> str:
    """`p2/style@0.7+light-off`: the idea a variant tries, whatever its seed or sampler."""
    arms = [
        f"{a['name']}@{a['weight']:g}" if a.get("enabled") else f"{a['name']}-off" for a in loras
    ]
    return f"p{prompt_index + 1}" + (f"/{'+'.join(arms)}" if arms else "")


def _strengths(c: Candidate, medians: dict[str, float]) -> str:
    above = sorted(
        (
            (s - medians.get(name, 0.0), name, s)
            for name, s in c.components.items()
            if s is not None
        ),
        reverse=True,
    )[:2]
    return ", ".join(f"{name} {s:.2f}" for _, name, s in above)


def select(
    candidates: Sequence[Candidate],
    dup_groups: Sequence[int],
    k: int = DEFAULT_K,
    n: int = DEFAULT_N,
) -> Shortlist:
    """The shortlist; `dup_groups[i]` is the near-duplicate group of `candidates[i]`."""
    if k < 1 or n < 0:
        raise ValueError(f"k must be at least 1 and n at least 0 (got k={k}, n={n})")
    result = Shortlist()
    for c, g in zip(candidates, dup_groups, strict=True):
        result.clusters.setdefault(c.cluster, []).append(c.variant_id)
        result.dup_groups.setdefault(f"d{g + 1}", []).append(c.variant_id)
    names = {name for c in candidates for name, s in c.components.items() if s is not None}
    medians = {}
    for name in names:
        values = sorted(s for c in candidates if (s := c.components.get(name)) is not None)
        medians[name] = values[len(values) // 2]
    order = sorted(
        range(len(candidates)), key=lambda i: (-candidates[i].total, candidates[i].variant_id)
    )
    per_cluster: Counter[str] = Counter()
    per_group: Counter[int] = Counter()
    for i in order:
        if len(result.picks) >= n:
            break
        c, g = candidates[i], dup_groups[i]
        if per_cluster[c.cluster] >= k:
            result.skipped_full_cluster += 1
            continue
        if per_group[g] >= k:
            result.skipped_duplicate += 1
            continue
        per_cluster[c.cluster] += 1
        per_group[g] += 1
        rank = len(result.picks) + 1
        size = len(result.clusters[c.cluster])
        reason = (
            f"#{per_cluster[c.cluster]} of {size} in cluster {c.cluster}; "
            f"total {c.total:.3f}; strongest: {_strengths(c, medians)}"
        )
        result.picks.append(Pick(rank, c, f"d{g + 1}", reason))
    return result
