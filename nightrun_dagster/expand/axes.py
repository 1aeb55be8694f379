"""The sweep's axes: one list of values per parameter, in a fixed outer-to-inner order."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.seeds import hero_seeds, strategy_seeds

DEFAULT_LORA_WEIGHTS = (0.4, 0.7, 1.0)


@dataclass(frozen=True)
class LoraArm:
    name: str
    path: str
    weight: float | None  # None: this LoRA is off

    @property
    def enabled(self) -> bool:
        return self.weight is not None


@dataclass(frozen=True)
class ControlNetArm:
    type: str
    weight: float


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[Any, ...]
    must_cover: bool  # every value must appear at least once after down-selection


def default_prompt(job: CreativeJob) -> str:
    p = job.product
    return f"advertising photo of {p.name} by {p.brand}, {job.copy_.headline}"


def build_axes(
    job: CreativeJob, mode: RunMode, night: str, template_defaults: Mapping[str, Any]
) -> list[Axis]:
    """The axes of a job's sweep for a run mode. Absent sweep fields use the template's
    defaults; exploitation narrows every numeric axis to its middle value and seeds to heroes."""
    if mode is RunMode.maintenance:
        return []
    v = job.generation.variants
    narrow = mode is RunMode.exploitation

    def pick(values: Sequence[Any] | None, default: Any) -> tuple[Any, ...]:
        chosen = tuple(values) if values else (default,)
        return (_middle(chosen),) if narrow else chosen

    axes = [
        Axis("prompt", tuple(v.prompt_variants or (default_prompt(job),)), must_cover=True),
        Axis("negative", tuple(v.negative_variants or (None,)), must_cover=True),
    ]
    for i, lora in enumerate(v.loras or []):
        weights = tuple(lora.weights) if lora.weights else DEFAULT_LORA_WEIGHTS
        if narrow:
            weights = (_middle(weights),)
        arms = [LoraArm(lora.name, lora.path, None)] if lora.on_off else []
        arms += [LoraArm(lora.name, lora.path, float(w)) for w in dict.fromkeys(weights)]
        axes.append(Axis(f"lora[{i}]", tuple(arms), must_cover=True))
    samplers = tuple(v.samplers or (template_defaults.get("sampler"),))
    axes.append(Axis("sampler", samplers[:1] if narrow else samplers, must_cover=True))
    cn_arms: list[ControlNetArm | None] = []
    for cn in v.controlnet or []:
        weights = (_middle(tuple(cn.weights)),) if narrow else tuple(dict.fromkeys(cn.weights))
        cn_arms += [ControlNetArm(cn.type, float(w)) for w in weights]
    axes.append(Axis("controlnet", tuple(cn_arms) or (None,), must_cover=True))
    steps = pick(v.steps, template_defaults.get("steps"))
    axes.append(Axis("steps", tuple(dict.fromkeys(steps)), must_cover=False))
    cfg = pick(v.cfg, template_defaults.get("cfg"))
    denoise = pick(v.denoise, template_defaults.get("denoise"))
    axes.append(Axis("cfg", _floats(cfg), must_cover=False))
    axes.append(Axis("denoise", _floats(denoise), must_cover=False))
    strategy = job.generation.seed_strategy
    seeds = (
        hero_seeds(strategy, job.job_id) if narrow else strategy_seeds(strategy, job.job_id, night)
    )
    axes.append(Axis("seed", tuple(seeds), must_cover=False))
    return axes


def sweep_size(axes: Sequence[Axis]) -> int:
    """Size of the full cartesian product (0 when there are no axes: nothing to render)."""
    return math.prod(len(a.values) for a in axes) if axes else 0


def _floats(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(None if x is None else float(x) for x in values))


def _middle(values: Sequence[Any]) -> Any:
    """The middle value of a sweep list (the lower middle for even lengths)."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]
