"""Arms: template × prompt family × LoRA set, the unit the night-to-night bandit budgets.

A prompt family is one entry of the job's `prompt_variants`, named by a hash of its text (a
reordered list keeps its evidence, an edited prompt starts afresh); a LoRA set is the on/off
state and weight of every LoRA the job sweeps. The other axes vary inside an arm.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nightrun_dagster.expand.axes import Axis, LoraArm
from nightrun_dagster.expand.downselect import mixed_radix_digits

PROMPT_AXIS = "prompt"
MAX_ROUNDS = 64


@dataclass(frozen=True)
class Arm:
    key: str  # "<template>/prompt-<sha8>/<lora set>": stable across nights and jobs
    label: str  # "p2 style@0.7": short, for tables
    digits: tuple[int, ...]  # the value index on each arm axis (prompt first, then LoRAs)


def is_arm_axis(axis: Axis) -> bool:
    return axis.name == PROMPT_AXIS or axis.name.startswith("lora[")


def prompt_family(prompt: str) -> str:
    return "prompt-" + hashlib.sha256(prompt.encode()).hexdigest()[:8]


def lora_set(loras: Sequence[LoraArm]) -> str:
    """`style@0.7+light-off`, or `no-lora` for a job without LoRAs."""
    parts = [f"{a.name}@{a.weight:g}" if a.enabled else f"{a.name}-off" for a in loras]
    return "+".join(parts) or "no-lora"


def arm_key(template_id: str, prompt: str, loras: Sequence[LoraArm]) -> str:
    return f"{template_id}/{prompt_family(prompt)}/{lora_set(loras)}"


def params_arm_key(params: Mapping[str, Any]) -> str | None:
    """The arm of a variant from its `params.json`; None when the document lacks a field."""
    try:
        template = str(params["template"]["id"])
        prompt = str(params["prompt"])
        loras = [
            LoraArm(
                str(a["name"]),
                str(a.get("path", "")),
                float(a["weight"]) if a.get("enabled") and a.get("weight") is not None else None,
            )
            for a in params.get("loras") or []
        ]
    except (KeyError, TypeError, ValueError):
        return None
    return arm_key(template, prompt, loras)


def sweep_arms(axes: Sequence[Axis], template_id: str) -> list[Arm]:
    """Every arm of a sweep, in product order (prompt outermost); [] when nothing renders.
    Two identical prompt entries share one arm: the first one's."""
    arm_axes = [a for a in axes if is_arm_axis(a)]
    if not arm_axes:
        return []
    radices = [len(a.values) for a in arm_axes]
    arms: dict[str, Arm] = {}
    for n in range(math.prod(radices)):
        digits = mixed_radix_digits(n, radices)
        prompt_pos = digits[0]
        loras = tuple(a.values[d] for a, d in zip(arm_axes[1:], digits[1:], strict=True))
        key = arm_key(template_id, arm_axes[0].values[prompt_pos], loras)
        label = f"p{prompt_pos + 1} {lora_set(loras)}"
        arms.setdefault(key, Arm(key, label, tuple(digits)))
    return list(arms.values())


def covering_order(arms: Sequence[Arm]) -> list[Arm]:
    """The arms reordered as a walk of shifted diagonals: step r of round s takes value
    (r + s·i) mod n_i on arm axis i (prompt, then each LoRA). A run of consecutive arms then
    spreads over as many prompts and LoRA states as it has arms (a Latin square for a prompt
    axis and one LoRA of the same size). Arms the walk misses follow in product order."""
    if not arms:
        return []
    width = len(arms[0].digits)
    radices = [max(a.digits[i] for a in arms) + 1 for i in range(width)]
    by_digits = {a.digits: a for a in arms}
    period = math.lcm(*radices)
    order: dict[tuple[int, ...], Arm] = {}
    # Rounds repeat after `period` shifts; a few dozen cover any realistic sweep.
    for shift in range(min(period, MAX_ROUNDS)):
        for r in range(period):
            digits = tuple((r + shift * i) % n for i, n in enumerate(radices))
            if digits in by_digits:
                order.setdefault(digits, by_digits[digits])
        if len(order) == len(by_digits):
            break
    return [*order.values(), *(a for a in arms if a.digits not in order)]


def arm_capacity(axes: Sequence[Axis]) -> int:
    """Variants one arm holds: the product of the axes that vary inside it."""
    if not axes:
        return 0
    return math.prod(len(a.values) for a in axes if not is_arm_axis(a))


def apportion(total: int, weights: Sequence[float], caps: Sequence[int]) -> list[int]:
    """Split `total` into integers proportional to `weights`, none above its cap (what a capped
    share cannot take flows to the others), largest remainders first, ties to the lower index.
    Each part is at least the floor of its proportional quota."""
    parts = [0] * len(weights)
    left = min(max(total, 0), sum(max(c, 0) for c in caps))
    open_ = [i for i in range(len(weights)) if caps[i] > 0]
    while left > 0 and open_:
        w = {i: max(weights[i], 0.0) for i in open_}
        mass = sum(w.values())
        if mass <= 0:
            w = dict.fromkeys(open_, 1.0)
            mass = float(len(open_))
        quota = {i: left * w[i] / mass for i in open_}
        full = [i for i in open_ if quota[i] >= caps[i] - parts[i]]
        if full:
            # Fill the arms their quota overflows, then share the rest among the others.
            for i in full:
                left -= caps[i] - parts[i]
                parts[i] = caps[i]
            open_ = [i for i in open_ if i not in full]
            continue
        grant = {i: int(quota[i]) for i in open_}
        spare = left - sum(grant.values())
        for i in sorted(open_, key=lambda i: (-(quota[i] - grant[i]), i)):
            if spare <= 0:
                break
            if parts[i] + grant[i] < caps[i]:
                grant[i] += 1
                spare -= 1
        for i, g in grant.items():
            parts[i] += g
        left = spare
        open_ = [i for i in open_ if parts[i] < caps[i]]
    return parts
