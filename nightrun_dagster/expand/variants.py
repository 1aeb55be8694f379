"""Expanding a job into its variants for one night and run mode."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.expand.arms import (
    Arm,
    apportion,
    arm_capacity,
    is_arm_axis,
    sweep_arms,
)
from nightrun_dagster.expand.axes import Axis, ControlNetArm, LoraArm, build_axes, sweep_size
from nightrun_dagster.expand.downselect import (
    mixed_radix_digits,
    mixed_radix_index,
    select_indices,
)
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.seeds import derived_seed


class ArmMismatch(ValueError):
    """The per-arm budgets name other arms than the job's sweep has (the job changed)."""


@dataclass(frozen=True)
class Variant:
    """One render: every parameter that differs between the variants of a job."""

    variant_id: str  # v0001, v0002, … in product order
    index: int  # position in the full cartesian product
    prompt: str
    prompt_index: int
    negative: str | None  # None: the template's own negative prompt
    loras: tuple[LoraArm, ...]
    sampler: str | None
    controlnet: ControlNetArm | None
    steps: int | None
    cfg: float | None
    denoise: float | None
    seed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "variant_id": self.variant_id,
            "product_index": self.index,
            "prompt": self.prompt,
            "prompt_index": self.prompt_index,
            "negative": self.negative,
            "seed": self.seed,
            "loras": [
                {"name": a.name, "path": a.path, "enabled": a.enabled, "weight": a.weight}
                for a in self.loras
            ],
            "sampler": self.sampler,
            "steps": self.steps,
            "cfg": self.cfg,
            "denoise": self.denoise,
            "controlnet": (
                {"type": self.controlnet.type, "weight": self.controlnet.weight}
                if self.controlnet
                else None
            ),
        }


@dataclass(frozen=True)
class Expansion:
    job_id: str
    night: str
    mode: RunMode
    cap: int
    sweep_size: int  # the full product before the cap
    axes: tuple[Axis, ...]
    variants: tuple[Variant, ...]
    arm_budgets: tuple[tuple[str, int], ...] | None = None  # what each arm got, when budgeted
    extra: int = 0  # exploration extras after the selection: new seeds, numbered on
    reserve: int = 0  # last: more of the sweep, rendered only in time the job has spare

    @property
    def capped(self) -> bool:
        return self.sweep_size > self.cap

    @property
    def selection(self) -> str:
        if not self.variants:
            return "none"
        if not self.capped:
            return "full product"
        if self.arm_budgets is not None:
            return "per-arm budgets (bandit), covering rows + scrambled Sobol within each arm"
        return "covering rows + scrambled Sobol"


def variant_id(number: int) -> str:
    return f"v{number:04d}"


def expand_job(
    job: CreativeJob,
    mode: RunMode,
    night: str,
    cap: int,
    template_defaults: Mapping[str, Any],
    *,
    arm_budgets: Mapping[str, int] | None = None,
    extra: int = 0,
    reserve: int = 0,
) -> Expansion:
    """The job's variants for a night: the whole product when it fits under `cap`, otherwise a
    deterministic down-selection (see `selection`) that keeps every prompt and LoRA arm.

    With `arm_budgets` (arm key -> variants, from the night plan's bandit allocation) a capped
    sweep is instead down-selected arm by arm: each arm gets its budget, chosen inside the arm
    by the same covering rows + Sobol. The budgets are rescaled to `cap` when they do not add
    up to it. Raises ArmMismatch when they name other arms than the sweep has.

    `extra` (the plan's exploration extras) appends that many variants after the selection,
    with seeds the sweep does not have (derived from job, night and their number, so a re-run
    repeats them), chosen over the other axes by the same covering rows + Sobol. `reserve`
    appends, last, up to that many more combinations of the sweep the selection left out (the
    job's unrendered demand), for a night that runs faster than planned."""
    axes = build_axes(job, mode, night, template_defaults)
    size = sweep_size(axes)
    radices = [len(a.values) for a in axes]
    seed_key = (job.job_id, night, mode.value, "selection")
    budgets: tuple[tuple[str, int], ...] | None = None
    if not size or cap <= 0:
        indices: list[int] = []
    elif arm_budgets is not None and size > cap:
        arms = sweep_arms(axes, job.generation.workflow.template_id)
        budgets = _fit_budgets(arms, arm_budgets, cap, arm_capacity(axes))
        indices = _per_arm_indices(axes, radices, arms, dict(budgets), seed_key)
    else:
        indices = select_indices(
            radices, [a.must_cover for a in axes], cap, seed=derived_seed(*seed_key)
        )
    variants = tuple(_variant(n, i, axes, radices) for n, i in enumerate(indices, start=1))
    more = _extra_variants(axes, extra, len(variants), (*seed_key, "extra")) if size else ()
    spare = _reserve_variants(
        axes, radices, indices, reserve, len(variants) + len(more), (*seed_key, "reserve")
    )
    return Expansion(
        job.job_id,
        night,
        mode,
        cap,
        size,
        tuple(axes),
        variants + more + spare,
        budgets,
        len(more),
        len(spare),
    )


def _reserve_variants(
    axes: list[Axis],
    radices: list[int],
    chosen: list[int],
    reserve: int,
    after: int,
    seed_key: tuple[object, ...],
) -> tuple[Variant, ...]:
    """Up to `reserve` combinations the selection left out, picked by a wider selection of
    the same kind (so they spread over the sweep too), numbered after `after`."""
    if reserve <= 0 or not chosen:
        return ()
    taken = set(chosen)
    wider = select_indices(
        radices,
        [a.must_cover for a in axes],
        len(chosen) + reserve,
        seed=derived_seed(*seed_key),
    )
    rest = [i for i in wider if i not in taken]
    rng = random.Random(derived_seed(*seed_key, "order"))
    picked = sorted(rng.sample(rest, min(reserve, len(rest))))
    return tuple(_variant(n, i, axes, radices) for n, i in enumerate(picked, start=after + 1))


def _extra_variants(
    axes: list[Axis], extra: int, after: int, seed_key: tuple[object, ...]
) -> tuple[Variant, ...]:
    """`extra` variants on new seeds: the seed axis replaced by as many fresh seeds as it takes
    to cover `extra` combinations of the other axes."""
    if extra <= 0:
        return ()
    others = math.prod(len(a.values) for a in axes if a.name != "seed")
    count = max(1, math.ceil(extra / max(others, 1)))
    seeds = tuple(derived_seed(*seed_key, i) for i in range(count))
    wide = [Axis(a.name, seeds, a.must_cover) if a.name == "seed" else a for a in axes]
    radices = [len(a.values) for a in wide]
    indices = select_indices(
        radices, [a.must_cover for a in wide], extra, seed=derived_seed(*seed_key)
    )
    return tuple(
        _variant(n, i, wide, radices) for n, i in enumerate(indices[:extra], start=after + 1)
    )


def planned_count(
    job: CreativeJob, mode: RunMode, night: str, cap: int, template_defaults: Mapping[str, Any]
) -> tuple[int, int]:
    """(variants the job would get, full sweep size) without building the variants."""
    size = sweep_size(build_axes(job, mode, night, template_defaults))
    return min(size, max(cap, 0)), size


def _fit_budgets(
    arms: list[Arm], wanted: Mapping[str, int], cap: int, capacity: int
) -> tuple[tuple[str, int], ...]:
    keys = [a.key for a in arms]
    if set(keys) != set(wanted):
        missing = sorted(set(keys) - set(wanted))
        unknown = sorted(set(wanted) - set(keys))
        raise ArmMismatch(
            f"arm budgets do not match the sweep: missing {missing}, unknown {unknown}"
        )
    asked = [max(int(wanted[k]), 0) for k in keys]
    if sum(asked) == cap and all(n <= capacity for n in asked):
        return tuple(zip(keys, asked, strict=True))
    # The plan was made for another cap (the job file changed since): keep its proportions.
    weights = [float(n) for n in asked] if any(asked) else [1.0] * len(asked)
    parts = apportion(cap, weights, [capacity] * len(keys))
    return tuple(zip(keys, parts, strict=True))


def _per_arm_indices(
    axes: list[Axis],
    radices: list[int],
    arms: list[Arm],
    budgets: Mapping[str, int],
    seed_key: tuple[str, ...],
) -> list[int]:
    """Product indices (sorted) of each arm's budget, chosen inside the arm's sub-product."""
    arm_pos = [i for i, a in enumerate(axes) if is_arm_axis(a)]
    free_pos = [i for i, a in enumerate(axes) if not is_arm_axis(a)]
    free_radices = [radices[i] for i in free_pos]
    free_cover = [axes[i].must_cover for i in free_pos]
    chosen: list[int] = []
    for arm in arms:
        count = budgets[arm.key]
        if count <= 0:
            continue
        picks = select_indices(
            free_radices, free_cover, count, seed=derived_seed(*seed_key, arm.key)
        )
        digits = [0] * len(axes)
        for pos, d in zip(arm_pos, arm.digits, strict=True):
            digits[pos] = d
        for pick in picks:
            for pos, d in zip(free_pos, mixed_radix_digits(pick, free_radices), strict=True):
                digits[pos] = d
            chosen.append(mixed_radix_index(digits, radices))
    return sorted(chosen)


def _variant(number: int, index: int, axes: list[Axis], radices: list[int]) -> Variant:
    digits = mixed_radix_digits(index, radices)
    values = {a.name: a.values[d] for a, d in zip(axes, digits, strict=True)}
    loras = tuple(values[a.name] for a in axes if a.name.startswith("lora["))
    return Variant(
        variant_id=variant_id(number),
        index=index,
        prompt=values["prompt"],
        prompt_index=digits[0],
        negative=values["negative"],
        loras=loras,
        sampler=values["sampler"],
        controlnet=values["controlnet"],
        steps=values["steps"],
        cfg=values["cfg"],
        denoise=values["denoise"],
        seed=values["seed"],
    )
