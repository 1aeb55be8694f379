"""Expanding a job into its variants for one night and run mode."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nightrun_dagster.expand.axes import Axis, ControlNetArm, LoraArm, build_axes, sweep_size
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.seeds import derived_seed
from nightrun_dagster.expand.selection import mixed_radix_digits, select_indices
from nightrun_dagster.spec.model import CreativeJob


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

    @property
    def capped(self) -> bool:
        return self.sweep_size > self.cap

    @property
    def selection(self) -> str:
        if not self.variants:
            return "none"
        return "covering rows + scrambled Sobol" if self.capped else "full product"


def variant_id(number: int) -> str:
    return f"v{number:04d}"


def expand_job(
    job: CreativeJob,
    mode: RunMode,
    night: str,
    cap: int,
    template_defaults: Mapping[str, Any],
) -> Expansion:
    """The job's variants for a night: the whole product when it fits under `cap`, otherwise a
    deterministic down-selection (see `selection`) that keeps every prompt and LoRA arm."""
    axes = build_axes(job, mode, night, template_defaults)
    size = sweep_size(axes)
    radices = [len(a.values) for a in axes]
    indices = (
        select_indices(
            radices,
            [a.must_cover for a in axes],
            cap,
            seed=derived_seed(job.job_id, night, mode.value, "selection"),
        )
        if size and cap > 0
        else []
    )
    variants = tuple(_variant(n, i, axes, radices) for n, i in enumerate(indices, start=1))
    return Expansion(job.job_id, night, mode, cap, size, tuple(axes), variants)


def planned_count(
    job: CreativeJob, mode: RunMode, night: str, cap: int, template_defaults: Mapping[str, Any]
) -> tuple[int, int]:
    """(variants the job would get, full sweep size) without building the variants."""
    size = sweep_size(build_axes(job, mode, night, template_defaults))
    return min(size, max(cap, 0)), size


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
