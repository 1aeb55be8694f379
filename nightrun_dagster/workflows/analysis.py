"""Every parameter of a graph worth sweeping, with its node, input, current value and range."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from nightrun_dagster.creative_job.json_types import TypeNames, type_name
from nightrun_dagster.workflows.compat import combo_choices, is_link
from nightrun_dagster.workflows.model_inputs import model_folder
from nightrun_dagster.workflows.roles import PROMPT_INPUTS, SEED_INPUTS, VIDEO_LENGTH_INPUTS
from nightrun_dagster.workflows.schemas import NodeSchemas


class Category(StrEnum):
    seed = "seed"
    steps = "steps"
    cfg = "cfg"
    guidance = "guidance"
    denoise = "denoise"
    sampler = "sampler"
    scheduler = "scheduler"
    size = "size"
    frames = "frames"
    strength = "strength"
    prompt = "prompt"
    model = "model"
    other = "other"


_BY_NAME: Mapping[str, Category] = {
    **{name: Category.seed for name in SEED_INPUTS},
    "steps": Category.steps,
    "start_at_step": Category.steps,
    "end_at_step": Category.steps,
    "cfg": Category.cfg,
    "guidance": Category.guidance,
    "denoise": Category.denoise,
    "sampler_name": Category.sampler,
    "scheduler": Category.scheduler,
    "width": Category.size,
    "height": Category.size,
    "scale_by": Category.size,
    **{name: Category.frames for name in VIDEO_LENGTH_INPUTS},
}
# Plain numbers nobody sweeps for a look: how many images, where an area starts.
_SKIPPED = frozenset({"batch_size", "crop_w", "crop_h", "x", "y", "amount"})


@dataclass(frozen=True)
class Parameter:
    node_id: str
    class_type: str
    input: str
    value: Any
    type: str
    category: Category
    role: str | None
    minimum: float | None = None
    maximum: float | None = None
    choices: int | None = None  # how many values the combo allows

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k == "role"}


def _category(class_type: str, name: str, kind: str | None) -> Category | None:
    if name in _SKIPPED:
        return None
    if model_folder(class_type, name):
        return Category.model
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name in PROMPT_INPUTS and kind == "STRING":
        return Category.prompt
    if kind in ("INT", "FLOAT"):
        lowered = name.lower()
        if "strength" in lowered or "weight" in lowered:
            return Category.strength
        return Category.other
    return None


def sweepable_parameters(
    graph: Mapping[str, Any], schemas: NodeSchemas, roles: Mapping[str, str | None]
) -> list[Parameter]:
    """Numbers, sampler and scheduler choices, prompts and model files, in graph order."""
    role_of = {node_id: role for role, node_id in roles.items() if node_id is not None}
    found = []
    for node_id, node in graph.items():
        class_type = str(node.get("class_type", ""))
        for name, value in (node.get("inputs") or {}).items():
            if is_link(value) or isinstance(value, dict | list):
                continue
            kind = schemas.input_type(class_type, name) or _python_type(value)
            category = _category(class_type, name, kind)
            if category is None or (kind == "BOOLEAN"):
                continue
            opts = schemas.input_options(class_type, name)
            choices = combo_choices(schemas.input_spec(class_type, name))
            found.append(
                Parameter(
                    node_id=str(node_id),
                    class_type=class_type,
                    input=name,
                    value=value,
                    type=kind,
                    category=category,
                    role=role_of.get(str(node_id)),
                    minimum=_number(opts.get("min")),
                    maximum=_number(opts.get("max")),
                    choices=len(choices) if choices else None,
                )
            )
    return found


# A literal's ComfyUI type when the schema does not say; anything else reads as a string.
_LITERAL_TYPES: TypeNames = ((bool, "BOOLEAN"), (int, "INT"), (float, "FLOAT"))


def _python_type(value: Any) -> str:
    return type_name(value, _LITERAL_TYPES, "STRING")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value
