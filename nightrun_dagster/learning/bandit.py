"""Budget across arms (template × prompt family × LoRA set) by Thompson sampling on past
nights' approval rates, with an exploration share that starts at 80 % and never drops below
its floor (seed §4, the bandit improvement loop).

How a night's budget is split (`allocate`):
- exploration share e = floor + (start - floor) * scale / (scale + shown): 0.8 with no
  evidence, halfway to the floor after `evidence_scale` reviewed picks, never below the floor;
- e of the budget (rounded up) is spread evenly over every arm of tonight's sweep, untried
  arms included, so no arm starves: each keeps at least floor(budget * e / arms) variants (or
  all it holds); when that leaves spare variants, consecutive arms of a covering order get
  them, starting at a place drawn from the night;
- 1 - e goes to the arms in proportion to how often each wins a Thompson draw: one draw per
  arm from Beta(1 + approved, 1 + shown - approved), many rounds, seeded from the night.

Run modes: exploration nights (Mon–Thu) use the evidence curve above. Exploitation nights
(Fri/Sat) use the floor directly: their sweep is already narrowed to hero seeds and middle
values, so the budget follows the evidence, while the floor still keeps every arm alive.
Maintenance nights (Sun) render nothing: every arm gets 0.

Evidence (`arm_evidence`): a job's night counts once someone decided on at least one of its
picks; then every pick of `selection/shortlisted.json` (and any other decided variant) was
shown, and approved when its first decision is approve or favorite.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from nightrun_dagster.expand.arms import apportion, params_arm_key
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.seeds import derived_seed
from nightrun_dagster.selection.approvals import APPROVING
from nightrun_dagster.store.documents import try_read_json
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.selection_docs import try_read_shortlist
from nightrun_dagster.store.variant_docs import try_read_params
from nightrun_dagster.telegram import ledger

EXPLORATION_FLOOR = 0.2
START_EXPLORATION = 0.8
EVIDENCE_SCALE = 60.0  # reviewed picks that take exploration halfway from start to floor
THOMPSON_DRAWS = 4000
LOOKBACK_NIGHTS = 28


class BanditConfigError(ValueError):
    """Exploration settings that cannot hold (floor above start, shares outside 0..1)."""


@dataclass(frozen=True)
class ArmStats:
    shown: int = 0
    approved: int = 0

    def __add__(self, other: ArmStats) -> ArmStats:
        return ArmStats(self.shown + other.shown, self.approved + other.approved)

    @property
    def posterior_mean(self) -> float:
        """Mean of Beta(1 + approved, 1 + rejected): 0.5 for an untried arm."""
        return (1 + self.approved) / (2 + self.shown)


@dataclass(frozen=True)
class BanditConfig:
    exploration_floor: float = EXPLORATION_FLOOR
    start_exploration: float = START_EXPLORATION
    evidence_scale: float = EVIDENCE_SCALE
    draws: int = THOMPSON_DRAWS
    lookback_nights: int = LOOKBACK_NIGHTS


@dataclass(frozen=True)
class ArmShare:
    arm: str
    share: float  # of the job's budget: exploration slice + exploitation part
    budget: int  # variants: `explore` + what the Thompson draws gave it
    explore: int  # variants of the exploration part
    shown: int
    approved: int
    win_rate: float  # share of Thompson draws this arm won

    def as_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "share": round(self.share, 4),
            "budget": self.budget,
            "explore": self.explore,
            "shown": self.shown,
            "approved": self.approved,
            "win_rate": round(self.win_rate, 4),
        }


@dataclass(frozen=True)
class Allocation:
    night: str
    budget: int
    exploration_share: float
    evidence: int  # reviewed picks over tonight's arms
    arms: tuple[ArmShare, ...] = field(default_factory=tuple)

    def budgets(self) -> dict[str, int]:
        return {a.arm: a.budget for a in self.arms}

    def share_of(self, arm: str) -> float:
        return next((a.share for a in self.arms if a.arm == arm), 0.0)


def exploration_share(
    evidence: int,
    *,
    mode: RunMode | None = None,
    floor: float = EXPLORATION_FLOOR,
    start: float = START_EXPLORATION,
    scale: float = EVIDENCE_SCALE,
) -> float:
    """Share of a budget spread evenly over all arms: `start` with no evidence, shrinking
    toward `floor` as reviewed picks accumulate; exploitation nights use the floor."""
    if not 0.0 <= floor <= start <= 1.0:
        raise BanditConfigError(f"need 0 <= floor ({floor}) <= start ({start}) <= 1")
    if mode is RunMode.exploitation or scale <= 0:
        return floor
    return floor + (start - floor) * scale / (scale + max(evidence, 0))


def thompson_wins(stats: Sequence[ArmStats], draws: int, seed: int) -> list[float]:
    """Share of `draws` rounds each arm wins with the highest Beta posterior draw."""
    if not stats:
        return []
    rng = np.random.default_rng(seed)
    approved = np.array([min(max(s.approved, 0), max(s.shown, 0)) for s in stats], dtype=float)
    shown = np.array([max(s.shown, 0) for s in stats], dtype=float)
    samples = rng.beta(1.0 + approved, 1.0 + shown - approved, size=(max(draws, 1), len(stats)))
    wins = np.bincount(samples.argmax(axis=1), minlength=len(stats))
    return (wins / wins.sum()).tolist()


def allocate(
    arms: Sequence[str],
    stats: Mapping[str, ArmStats],
    budget: int,
    *,
    night: str,
    salt: str = "",
    mode: RunMode | None = None,
    capacity: int | Mapping[str, int] | None = None,
    exploration_floor: float = EXPLORATION_FLOOR,
    start_exploration: float = START_EXPLORATION,
    evidence_scale: float = EVIDENCE_SCALE,
    draws: int = THOMPSON_DRAWS,
) -> Allocation:
    """Split `budget` over `arms` (see the module docstring). `capacity` caps what one arm can
    take (the variants it holds); what a full arm cannot take goes to the others.

    `arms` should come in covering order (consecutive arms differ in prompt and LoRAs): when
    the exploration part does not divide evenly, its spare variants go to a run of consecutive
    arms that starts at a place drawn from the night, so a small budget still covers prompts
    and LoRAs, and other nights cover other arms. Everything is seeded from `night` and `salt`
    (the job): planning a night again gives the same split."""
    keys = list(dict.fromkeys(arms))
    arm_stats = [stats.get(k, ArmStats()) for k in keys]
    evidence = sum(s.shown for s in arm_stats)
    e = exploration_share(
        evidence,
        mode=mode,
        floor=exploration_floor,
        start=start_exploration,
        scale=evidence_scale,
    )
    budget = 0 if mode is RunMode.maintenance else max(budget, 0)
    if not keys:
        return Allocation(night, 0, e, evidence)
    n = len(keys)
    wins = thompson_wins(arm_stats, draws, derived_seed("bandit", night, salt))
    shares = [e / n + (1.0 - e) * w for w in wins]
    if capacity is None:
        caps = [budget] * n
    elif isinstance(capacity, int):
        caps = [capacity] * n
    else:
        caps = [int(capacity.get(k, 0)) for k in keys]
    # Exploration: at least e of the budget (rounded up), evenly over every arm.
    explore_total = min(budget, math.ceil(budget * e - 1e-9))
    start = derived_seed("explore", night, salt) % n
    turn = list(range(start, n)) + list(range(start))
    even = apportion(explore_total, [1.0] * n, [caps[i] for i in turn])
    explore = [0] * n
    for i, part in zip(turn, even, strict=True):
        explore[i] = part
    # Exploitation: the rest, by Thompson wins.
    room = [c - x for c, x in zip(caps, explore, strict=True)]
    exploit = apportion(budget - sum(explore), wins, room)
    rows = tuple(
        ArmShare(k, share, x + y, x, s.shown, s.approved, w)
        for k, share, x, y, s, w in zip(
            keys, shares, explore, exploit, arm_stats, wins, strict=True
        )
    )
    return Allocation(night, sum(r.budget for r in rows), e, evidence, rows)


# ------------------------------------------------------------------------------ the evidence
@dataclass(frozen=True)
class Reviewed:
    """One job's night that a person reviewed."""

    night: str
    job_key: str
    job_dir: JobDir
    product: dict[str, Any]  # the job's `product` (sku, name, brand …); {} when unknown
    shown: dict[str, dict[str, Any]]  # variant id -> its params.json
    decisions: dict[str, str]  # variant id -> its first decision (approve, favorite, reject)

    def approved(self, variant_id: str) -> bool:
        return self.decisions.get(variant_id) in APPROVING


def night_range(runs_dir: Path, since: str | None, until: str) -> list[str]:
    """Night folders under `runs_dir` from `since` to `until` (both included), oldest first."""
    if not Path(runs_dir).is_dir():
        return []
    nights = []
    for entry in Path(runs_dir).iterdir():
        try:
            date.fromisoformat(entry.name)
        except ValueError:
            continue
        if entry.is_dir() and (since is None or since <= entry.name) and entry.name <= until:
            nights.append(entry.name)
    return sorted(nights)


def reviewed_jobs(
    runs_dir: Path,
    since: str | None,
    until: str,
    *,
    job_key: str | None = None,
    product: str | None = None,
    as_of: datetime | None = None,
) -> Iterator[Reviewed]:
    """Every reviewed job-night from `since` to `until` (both included), optionally only one
    job key or one product SKU; decisions made after `as_of` are left out, so a night planned
    again later sees the same evidence."""
    for night in night_range(runs_dir, since, until):
        for path in sorted((Path(runs_dir) / night).glob("job_*")):
            key = path.name.removeprefix("job_")
            if job_key is not None and key != job_key:
                continue
            job_dir = JobDir(path)
            info = _product(job_dir)
            if product is not None and info.get("sku") != product:
                continue
            decisions = _first_decisions(job_dir, as_of)
            if not decisions:
                continue
            shortlist = try_read_shortlist(job_dir)
            ids = shortlist.pick_ids() if shortlist else []
            shown: dict[str, dict[str, Any]] = {}
            for vid in dict.fromkeys([*ids, *decisions]):
                params = try_read_params(job_dir.variant_dir(vid))
                if params is not None:
                    shown[vid] = params.as_dict()
            yield Reviewed(night, key, job_dir, info, shown, decisions)


def arm_evidence(
    runs_dir: Path,
    before_night: str,
    lookback_nights: int = LOOKBACK_NIGHTS,
    *,
    job_key: str | None = None,
    product: str | None = None,
    as_of: datetime | None = None,
) -> dict[str, ArmStats]:
    """Shown and approved picks per arm over the `lookback_nights` nights before
    `before_night` (that night itself excluded), for one job key or one product SKU (or all)."""
    until = (date.fromisoformat(before_night) - timedelta(days=1)).isoformat()
    since = (date.fromisoformat(before_night) - timedelta(days=lookback_nights)).isoformat()
    stats: dict[str, ArmStats] = {}
    for job in reviewed_jobs(runs_dir, since, until, job_key=job_key, product=product, as_of=as_of):
        for vid, params in job.shown.items():
            arm = params_arm_key(params)
            if arm is not None:
                stats[arm] = stats.get(arm, ArmStats()) + ArmStats(1, int(job.approved(vid)))
    return stats


def _first_decisions(job_dir: JobDir, as_of: datetime | None) -> dict[str, str]:
    first: dict[str, str] = {}
    for d in ledger.read(job_dir.path):
        if as_of is not None and _after(d.get("at"), as_of):
            continue
        vid, kind = d.get("variant_id"), d.get("decision")
        if isinstance(vid, str) and isinstance(kind, str):
            first.setdefault(vid, kind)
    return first


def _after(at: Any, as_of: datetime) -> bool:
    try:
        when = datetime.fromisoformat(str(at))
    except ValueError:
        return False  # an unreadable time keeps the decision: the ledger validated the rest
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when > as_of


def _product(job_dir: JobDir) -> dict[str, Any]:
    job = try_read_json(job_dir.job_snapshot)
    product = job.get("product") if isinstance(job, dict) else None
    return product if isinstance(product, dict) else {}
